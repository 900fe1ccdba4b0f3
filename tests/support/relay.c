/* relay.c - see relay.h. */
#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int cbt_buf_add(struct cbt_buf *b, const void *d, size_t n)
{
    if (n > CBT_RELAY_MAX || b->len + n + 1 > CBT_RELAY_MAX) {
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *q = realloc(b->p, cap);
        if (!q) {
            return -1;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

void cbt_buf_free(struct cbt_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int cbt_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void cbt_set_timeouts(int fd, int seconds)
{
    struct timeval tv = {seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The request's full length from its head (head_end bytes), or 0 if a
 * Content-Length is not a plain number. */
static size_t request_length(const char *p, size_t head_end)
{
    size_t want = head_end;
    const char *end = p + head_end;
    for (const char *h = p; h && h < end; h = strstr(h, "\r\n") ? strstr(h, "\r\n") + 2 : NULL) {
        if (strncasecmp(h, "Content-Length:", 15) == 0) {
            char *stop;
            errno = 0;
            unsigned long long v = strtoull(h + 15, &stop, 10);
            if (errno || stop == h + 15 || v > CBT_RELAY_MAX) {
                return 0;
            }
            want += (size_t)v;
        }
    }
    return want;
}

int cbt_read_request(int fd, struct cbt_buf *req)
{
    char tmp[65536];
    size_t want = 0;
    for (;;) {
        ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0 || cbt_buf_add(req, tmp, (size_t)r)) {
            return -1;
        }
        if (!want) {
            char *e = strstr(req->p, "\r\n\r\n");
            if (!e) {
                continue;
            }
            want = request_length(req->p, (size_t)(e - req->p) + 4);
            if (!want) {
                return -1;
            }
        }
        if (req->len >= want) {
            return 0;
        }
    }
}

int cbt_forward(int port, int timeout_s, const struct cbt_buf *req, struct cbt_buf *resp)
{
    const char *eol = req->p ? strstr(req->p, "\r\n") : NULL;
    if (!eol) {
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cbt_set_timeouts(fd, timeout_s);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    size_t first = (size_t)(eol - req->p) + 2;
    static const char hdr[] = "Connection: close\r\n";
    int rc = cbt_send_all(fd, req->p, first) || cbt_send_all(fd, hdr, sizeof(hdr) - 1) ||
                     cbt_send_all(fd, req->p + first, req->len - first)
                 ? -1
                 : 0;
    char tmp[65536];
    while (rc == 0) {
        ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        if (cbt_buf_add(resp, tmp, (size_t)r)) {
            rc = -1;
        }
    }
    close(fd);
    return rc == 0 && resp->len > 0 ? 0 : -1;
}
