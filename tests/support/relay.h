/*
 * relay.h - pieces of the loopback HTTP relays that tests and benchmarks put
 * between a field server and central (it_sync_sim's fault proxy,
 * coachbox-sync-bench's counting proxy): a capped growable buffer, reading
 * one request, and forwarding it upstream with "Connection: close".
 */
#ifndef COACHBOX_TEST_RELAY_H
#define COACHBOX_TEST_RELAY_H

#include <stddef.h>

/* Largest request or answer a relay holds (a push batch or pull page is far smaller). */
#define CBT_RELAY_MAX ((size_t)256 * 1024 * 1024)

/* A growable byte buffer, always NUL-terminated once non-empty; {NULL, 0, 0} is empty. */
struct cbt_buf {
    char *p;
    size_t len, cap;
};

/* Append n bytes; -1 when it would pass CBT_RELAY_MAX or memory runs out (b unchanged). */
int cbt_buf_add(struct cbt_buf *b, const void *d, size_t n);
/* Free b's memory and empty it. */
void cbt_buf_free(struct cbt_buf *b);
/* send() all n bytes (retrying on EINTR, no SIGPIPE); 0 or -1. */
int cbt_send_all(int fd, const char *p, size_t n);
/* Receive and send timeouts of fd, in seconds. */
void cbt_set_timeouts(int fd, int seconds);
/*
 * Read one HTTP request from fd into req: the head and a Content-Length body
 * (no chunked bodies: the sync client never sends them).  0, or -1 on EOF,
 * error, timeout or a request past CBT_RELAY_MAX.
 */
int cbt_read_request(int fd, struct cbt_buf *req);
/*
 * Send req to 127.0.0.1:port with "Connection: close" added after the request
 * line, and read the whole answer into resp (timeout_s per receive).  0 when
 * an answer arrived, else -1.
 */
int cbt_forward(int port, int timeout_s, const struct cbt_buf *req, struct cbt_buf *resp);

#endif
