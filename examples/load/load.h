/* What the files of the load example share: its two services and the load generator. */
#ifndef LOAD_LOAD_H
#define LOAD_LOAD_H

#include <stdint.h>

#include "server.h"

/* "Character repetition as a service" (repeat.c). */
extern const service load_repeat_service;
/* The admin endpoint: GET/PUT /filter, GET /callsites (admin.c). */
extern const service load_admin_service;

/* The load generator (loadgen.c): threads sending random requests to 127.0.0.1:port. */
typedef struct loadgen loadgen;

/* Starts threads threads, each pausing a random 0..pause_ms milliseconds between requests.
 * NULL with errno set if they cannot be started (none is left running then). */
loadgen *loadgen_start(uint16_t port, unsigned threads, unsigned pause_ms);
/* Stops the threads (each finishes the request it is sending), joins them, logs a summary and
 * frees g. NULL is a no-op. */
void loadgen_stop(loadgen *g);

#endif
