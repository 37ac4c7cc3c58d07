/* bridge.h: the agent side of a stream (stream.h): the command and the
 * frames both ways between the client and the sandbox agent. It calls the
 * client side (client.h), never the other way round. */
#ifndef SANDPIT_STREAM_BRIDGE_H
#define SANDPIT_STREAM_BRIDGE_H

struct conn;

/* bridge_pump: hand the client's buffered messages to the command (the
 * first must be exec or attach), until none is complete or the client is
 * held (the agent's queue is full: one message waits, see
 * bridge_retry_pending). */
void bridge_pump(struct conn *c);

/* bridge_read: the agent's frames to the client, at most a batch (the rest
 * on the set's more timer), pausing the agent while the client's queue is
 * past the send buffer. */
void bridge_read(struct conn *c);

/* bridge_resume: the client caught up (its queue at half the send buffer):
 * read the agent again. */
void bridge_resume(struct conn *c);

/* bridge_flush: write the agent's queue without blocking; a broken agent
 * connection ends the command's side. */
void bridge_flush(struct conn *c);

/* bridge_retry_pending: the agent's queue drained: forward the message
 * that waited, then go on with the client's input. */
void bridge_retry_pending(struct conn *c);

/* bridge_client_left: the client is gone: a detached command is left
 * running; any other gets SIGHUP and, after the kill grace, SIGKILL (or
 * SIGKILL at once with no grace). */
void bridge_client_left(struct conn *c);

/* bridge_tick: SIGKILL a hung-up command whose grace is over. */
void bridge_tick(struct conn *c);

/* bridge_kill: SIGKILL to the command's process group, best effort. */
void bridge_kill(struct conn *c);

/* bridge_close: close the agent connection, if any. */
void bridge_close(struct conn *c);

#endif
