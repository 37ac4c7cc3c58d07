/* upgrade.h: a stream's HTTP upgrade (stream.h): from the request head to
 * the 101, or an HTTP refusal. It calls the client and agent sides, never
 * the other way round. */
#ifndef SANDPIT_STREAM_UPGRADE_H
#define SANDPIT_STREAM_UPGRADE_H

struct conn;
struct lookup_job;

/* upgrade_read_head: read the request head; once complete, validate it and
 * hand the database work to the lookup threads (or refuse). */
void upgrade_read_head(struct conn *c);

/* upgrade_lookup_done: the lookup for c came back: refuse, or connect to
 * the sandbox's agent (then 101, or a retry timer while it is busy). */
void upgrade_lookup_done(struct conn *c, const struct lookup_job *job);

/* upgrade_retry: the connect retry timer fired. */
void upgrade_retry(struct conn *c);

/* upgrade_tick: the request head or the lookup took too long: 408 or 503. */
void upgrade_tick(struct conn *c);

/* upgrade_shut: the proxy is shutting down: refuse with 503. */
void upgrade_shut(struct conn *c);

/* upgrade_cancel: the upgrade will not go on: let go of its lookup (the
 * loop frees the job when it comes back), its retry timer and handshake.
 * Idempotent. */
void upgrade_cancel(struct conn *c);

#endif
