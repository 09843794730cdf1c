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


def last_digits_if_prime(n):
    """0 (a Python int) or n % 1000: a numpy scalar where n is an array's item (a user's trial:
    compiled, every item was an int)."""
    i = 3
    while i * i <= n:
        if n % i == 0:
            return 0
        i += 2
    return n % 1000


def odd_prime(n):
    """n == 2 (a numpy bool where n is an array's item) or a Python bool."""
    if n % 2 == 0:
        return n == 2
    i = 3
    while i * i <= n:
        if n % i == 0:
            return False
        i += 2
    return True
