"""The tutorial's element function, shared by the tests (shipped by value: tests/ is not
installed on the cluster)."""


def isPrime(p):
    x = 2
    while x*x <= p:
        if p%x == 0:
            return 0
        x = x + 1
    return 1


def countPrimes(n):
    """A shape inside a user function, in a file other than the block's."""
    return sum(isPrime(x) for x in range(n))


def primes_below(n):
    return [x for x in range(2, n) if isPrime(x)]
