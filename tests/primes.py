"""The tutorial's element function, shared by the tests (shipped by value: tests/ is not
installed on the cluster)."""


def isPrime(p):
    x = 2
    while x*x <= p:
        if p%x == 0:
            return 0
        x = x + 1
    return 1
