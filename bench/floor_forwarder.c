/* The floor: the smallest correct forwarder the kernel allows, to measure every forwarding
 * server against (bench/compare.sh runs it beside the peers; bench/README.md has the figures).
 * It reads no SNI and parses nothing: whatever the client sends first goes to one fixed backend.
 * What it does per connection is what any forwarder must do, and nothing more:
 *
 *   accept4(SOCK_NONBLOCK)  the listener has TCP_DEFER_ACCEPT, so the first bytes are there
 *   read                    the client's first bytes (the hello)
 *   socket, connect         non-blocking; on loopback the handshake is done before connect returns
 *   write                   the first bytes, at once (waits for EPOLLOUT only when not yet
 * connected) epoll_ctl ADD x2        one edge-triggered registration per socket, for its whole life
 *   read/write relay        both ways, with half-close (shutdown(SHUT_WR) after a FIN)
 *   close x2                no epoll_ctl(DEL): closing the last descriptor removes it
 *
 *   floor_forwarder LISTEN_IP:PORT BACKEND_IP:PORT     (IPv4; one thread; runs until killed)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kBuffer = 16384, kEvents = 256 };

/* One direction of a relay: bytes read from `from` waiting to be written to `to`. */
struct pipe {
    char data[kBuffer];
    size_t start, end;
    int eof;  /* `from` sent its FIN; once the buffer is empty, `to` gets shutdown(SHUT_WR) */
    int done; /* that shutdown was made */
    /* `from` may have bytes: set by an EPOLLIN edge, cleared by a short read. A read that would
     * fail with EAGAIN is a system call for nothing, so none is made on a drained socket. */
    int readable;
    int fin; /* EPOLLRDHUP seen on `from`: the next read returns 0 */
};

struct conn;
/* What an epoll event names: the conn and which of its sockets. */
struct side {
    struct conn* conn;
    int is_backend;
};

struct conn {
    int client, backend;  /* -1 once closed */
    int connected;        /* the backend's connect finished */
    struct pipe up, down; /* client -> backend, backend -> client */
    struct side sides[2];
};

static struct sockaddr_in backend_addr;

static int parse_addr(const char* text, struct sockaddr_in* out) {
    char host[64];
    const char* colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host) return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((unsigned short)atoi(colon + 1));
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

/* Moves what it can from `from` to `to` through `p`; -1 on an error (the conn is closed). */
static int relay(struct pipe* p, int from, int to) {
    for (;;) {
        if (p->start < p->end) {
            ssize_t n = write(to, p->data + p->start, p->end - p->start);
            if (n < 0) return errno == EAGAIN ? 0 : -1;
            p->start += (size_t)n;
            if (p->start < p->end) return 0; /* the peer is slow: wait for EPOLLOUT */
            p->start = p->end = 0;
        }
        if (p->eof) {
            if (!p->done) {
                shutdown(to, SHUT_WR);
                p->done = 1;
            }
            return 0;
        }
        if (!p->readable) return 0;
        ssize_t n = read(from, p->data, sizeof p->data);
        if (n < 0) {
            p->readable = 0;
            return errno == EAGAIN ? 0 : -1;
        }
        if (n == 0) p->eof = 1;
        /* A stream socket's short read emptied its queue; more data brings a new edge. */
        if ((size_t)n < sizeof p->data && !p->fin) p->readable = 0;
        p->end = (size_t)n;
    }
}

static void finish(struct conn* c) {
    close(c->client);
    close(c->backend);
    c->client = c->backend = -1;
}

static void serve(struct conn* c) {
    if (c->client < 0) return;
    if (!c->connected) return;
    if (relay(&c->up, c->client, c->backend) < 0 || relay(&c->down, c->backend, c->client) < 0 ||
        (c->up.done && c->down.done)) {
        finish(c);
    }
}

/* Returns 0 when the accept queue is empty. */
static int accept_one(int ep, int listener) {
    int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
    if (client < 0) return 0;
    struct conn* c = calloc(1, sizeof *c);
    c->client = client;
    /* TCP_DEFER_ACCEPT: the first bytes are already here. */
    ssize_t n = read(client, c->up.data, sizeof c->up.data);
    if (n > 0) c->up.end = (size_t)n;
    c->up.readable = n == (ssize_t)sizeof c->up.data; /* else: drained, or nothing yet */
    c->backend = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(c->backend, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(c->backend, (struct sockaddr*)&backend_addr, sizeof backend_addr);
    if (r == 0 || errno == EINPROGRESS) {
        /* On loopback the handshake is usually complete already: try the write now. */
        ssize_t w = c->up.end ? write(c->backend, c->up.data, c->up.end) : 0;
        if (w >= 0) {
            c->connected = 1;
            c->up.start = (size_t)w;
            if (c->up.start == c->up.end) c->up.start = c->up.end = 0;
        } else if (errno != EAGAIN && errno != ENOTCONN) {
            r = -1;
        }
    }
    if (r < 0 && errno != EINPROGRESS) {
        close(client);
        close(c->backend);
        free(c);
        return 1;
    }
    c->sides[0] = (struct side){c, 0};
    c->sides[1] = (struct side){c, 1};
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
    ev.data.ptr = &c->sides[0];
    epoll_ctl(ep, EPOLL_CTL_ADD, client, &ev);
    ev.data.ptr = &c->sides[1];
    epoll_ctl(ep, EPOLL_CTL_ADD, c->backend, &ev);
    if (n == 0) c->up.eof = 1;
    serve(c);
    if (c->client < 0) free(c); /* no event can name it yet: its sockets are closed */
    return 1;
}

int main(int argc, char** argv) {
    struct sockaddr_in listen_addr;
    if (argc != 3 || parse_addr(argv[1], &listen_addr) || parse_addr(argv[2], &backend_addr)) {
        fprintf(stderr, "usage: floor_forwarder LISTEN_IP:PORT BACKEND_IP:PORT (IPv4)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1, defer = 5;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited */
    setsockopt(listener, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
    if (bind(listener, (struct sockaddr*)&listen_addr, sizeof listen_addr) < 0 ||
        listen(listener, 4096) < 0) {
        perror("floor_forwarder: bind/listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    fprintf(stderr, "floor_forwarder: serving %s -> %s\n", argv[1], argv[2]);

    struct epoll_event events[kEvents];
    /* A conn is freed after the whole batch: a later event of the same batch may name it. */
    struct conn* finished[kEvents];
    for (;;) {
        int n = epoll_wait(ep, events, kEvents, -1);
        int nfinished = 0;
        for (int i = 0; i < n; ++i) {
            struct side* s = events[i].data.ptr;
            if (!s) {
                for (int k = 0; k < 64 && accept_one(ep, listener); ++k) {
                }
                continue;
            }
            struct conn* c = s->conn;
            if (c->client < 0) continue; /* finished earlier in this batch */
            struct pipe* in = s->is_backend ? &c->down : &c->up;
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) in->readable = 1;
            if (events[i].events & (EPOLLRDHUP | EPOLLHUP)) in->fin = 1;
            if (s->is_backend && !c->connected && (events[i].events & (EPOLLOUT | EPOLLERR))) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->backend, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err)
                    finish(c);
                else
                    c->connected = 1;
            }
            serve(c);
            if (c->client < 0) finished[nfinished++] = c;
        }
        for (int i = 0; i < nfinished; ++i) free(finished[i]);
    }
}
