"""A user class in a file of its own, whose methods hold parallel shapes: the block reaches them
only through the class or an instance, so the client must ship this file for the cluster to
split them."""
from tests.primes import isPrime


class PrimeCounter:
    def __init__(self, step: int = 1):
        self.step = step

    def count(self, n):
        return sum(isPrime(x) for x in range(0, n, self.step))

    @staticmethod
    def largest_below(n):
        return max(x * isPrime(x) for x in range(n))
