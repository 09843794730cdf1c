"""The tutorial's job, exactly as the Ufora docs give it, on an embedded local cluster
(or on the cluster at $UFORA_URL when it is set)."""
import pyfora


def isPrime(p):
    x = 2
    while x*x <= p:
        if p%x == 0:
            return 0
        x = x + 1
    return 1


if __name__ == "__main__":
    ufora = pyfora.connect()
    with ufora.remotely.downloadAll():
        result = sum(isPrime(x) for x in xrange(10 * 1000 * 1000))
    print(result)
    ufora.close()
