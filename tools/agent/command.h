/* command.h: the commands the agent runs for its connections, at most one per
 * connection and MAX_COMMANDS in all. The poll loop (agent.c) hands requests
 * and ready fds here; frames for a host are queued on its connection
 * (conn.h). A command whose connection went away is drained and its bytes
 * dropped; a detached one waits, still drained, for an ATTACH. */
#ifndef SANDPIT_AGENT_COMMAND_H
#define SANDPIT_AGENT_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agentproto.h"
#include "watch.h"

#define MAX_COMMANDS 64

struct command;
struct conn;

/* command_start: serve EXEC e for c: fork the command and await its exec
 * report in the loop (STARTED, or an ERROR, follows from there). Answers an
 * ERROR at once when c has a command already, stdin is over its cap, the
 * table is full, the environment is bad or a pipe, pty or fork fails. */
void command_start(struct conn *c, const struct agentproto_exec *e);

/* command_attach: serve ATTACH (payload p, n bytes): bind the detached
 * command of that pid, which no other live connection holds, to c, and
 * answer STARTED; OUTPUT from now and EXIT follow as if c had started it.
 * Any other pid is "not found", so ATTACH cannot take another connection's
 * command. */
void command_attach(struct conn *c, const uint8_t *p, size_t n);

/* On c's command, if any: queue stdin (an ERROR and end of stdin when the
 * backlog is over its cap), end stdin (^D on a tty), signal its process
 * group, resize its tty, or let it outlive c. */
void command_stdin(struct conn *c, const uint8_t *p, size_t n);
void command_stdin_close(struct conn *c);
void command_signal(struct conn *c, int sig);
void command_resize(struct conn *c, uint16_t cols, uint16_t rows);
void command_detach(struct conn *c);

/* command_hangup: c is closing: kill its command unless detached, and
 * unbind it. */
void command_hangup(struct conn *c);

/* command_has_stdin_room: whether more stdin may be read from s's host. */
bool command_has_stdin_room(const struct command *s);

/* command_timers: kill commands past their deadlines (one that did not
 * start within its start window is forgotten and its host told). Returns
 * the poll timeout until the next deadline in ms, -1 for none. */
int command_timers(void);

/* command_watch: add every command fd the loop should poll to w, owned by
 * W_STDOUT/W_STDERR/W_STDIN/W_START and the command's index. */
void command_watch(struct watches *w);

/* command_event: a command fd that command_watch added is ready. */
void command_event(const struct watch *o);

/* command_reap: reap every ended child (SIGCHLD came), noting the exit
 * status of commands. */
void command_reap(void);

/* command_finish_ended: drain and answer EXIT for every ended command, then
 * forget it. */
void command_finish_ended(void);

/* command_free_buffers: in a forked child that serves something else: drop
 * every stdin backlog the table holds. */
void command_free_buffers(void);

#endif
