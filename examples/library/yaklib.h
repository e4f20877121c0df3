/* A small library instrumented with libtrace. It never installs a subscriber: the application
 * decides whether anything is recorded, and at which levels. */
#ifndef YAKLIB_H
#define YAKLIB_H

/* Shaves n yaks; returns how many were shaved. */
int yaklib_shave_all(int n);
/* How many times a TRACE-level field was computed: 0 unless TRACE is enabled for yaklib. */
int yaklib_checks(void);

#endif
