/*
 * sslshim.c - lets Debian 12's CivetWeb 1.15 use OpenSSL 3.
 *
 * CivetWeb loads OpenSSL at run time with dlopen("libssl.so") and looks up
 * SSL_get_peer_certificate, which OpenSSL 3 provides only as a macro for
 * SSL_get1_peer_certificate.  The lookup comes back NULL and the first HTTPS
 * request calls it: the server dies.  This library is named and SONAMEd
 * "libssl.so", needs the real libssl.so.3, and adds the missing symbol.
 * coachbox links it (RUNPATH $ORIGIN), so CivetWeb's dlopen finds it already
 * loaded and resolves every other symbol through it to libssl.so.3.
 */
typedef struct ssl_st SSL;
typedef struct x509_st X509;

X509 *SSL_get1_peer_certificate(const SSL *s);
X509 *SSL_get_peer_certificate(const SSL *s);

/* Same reference semantics as OpenSSL 1.1's function: the caller frees. */
X509 *SSL_get_peer_certificate(const SSL *s)
{
    return SSL_get1_peer_certificate(s);
}
