/* The server of the load example: one thread, one epoll loop, many connections, each a small
 * state machine (read the request, write the response, linger, close) like an async task. What a
 * request means is up to a service: the character repetition service (repeat.c) and the admin
 * endpoint (admin.c) are two services of the same loop. */
#ifndef LOAD_SERVER_H
#define LOAD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <trace.h>

#include "http.h"

typedef struct service {
  /* The admin endpoint's body is its input and must arrive whole before the request is handled;
   * the repetition service reads Content-Length as a number and ignores any body. */
  bool reads_body;
  /* Creates the span every connection of a listener bound to local ("127.0.0.1:3000") lives in. */
  trace_span (*listener_span)(const char *local);
  /* Answers a complete request on the server thread, inside its request span. body holds
   * body_len bytes and a NUL after them (empty unless reads_body). Must not block. */
  void (*handle)(const http_request *req, const char *body, size_t body_len, http_response *rsp);
} service;

typedef struct server server;

/* An event loop with no listener yet. NULL with errno set on failure. */
server *server_new(void);
/* Listens on 127.0.0.1:port (0: a free port) for svc, with at most max_conns connections at a
 * time: a new one past the limit takes the place of the connection that has waited longest for
 * its request, or, if none is waiting (all are busy with a response), is closed at once. Writes
 * the address into local (at least 32 bytes). Returns the port listened on, or a negative errno
 * value. Before server_run only. */
int server_listen(server *s, const service *svc, uint16_t port, size_t max_conns, char *local,
                  size_t local_cap);
/* How long a connection may take, from its acceptance, to send its whole request (default 5000
 * ms); a connection still idle or incomplete then gets 408 and is closed. Before server_run. */
void server_set_read_timeout(server *s, unsigned ms);
/* Runs the loop on the calling thread until server_stop, then closes every connection and
 * listener. Returns 0, or -1 if the loop itself failed (reported as an ERROR event). */
int server_run(server *s);
/* Makes server_run return soon. Any thread, any time, also before server_run starts. */
void server_stop(server *s);
/* Frees a server that is not running. NULL is a no-op. */
void server_free(server *s);

#endif
