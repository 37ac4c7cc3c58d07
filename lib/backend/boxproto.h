/* boxproto.h: the request language of sandpit-boxd, the privileged daemon of
 * the local backend. One SOCK_SEQPACKET message per request and per reply,
 * ASCII, space-separated tokens, values without spaces:
 *
 *   create <id> [cpu=<millis>] [mem=<bytes>] [pids=<n>] [disk=<bytes>]
 *          [image=<NAME>@<KEY>]           -> ok addr=unix:<path>
 *          (image: the root from that image's layers in the daemon's own
 *          cache, tools/boxd/image.h; without it the host's directories)
 *   destroy <id>                          -> ok
 *   inspect <id>  -> ok alive=0|1 cpu_usec= mem= peak= pids= lim_cpu= lim_mem=
 *                       lim_pids= lim_disk=
 *   addr <id>                             -> ok addr=unix:<path>
 *   resize <id> [cpu=] [mem=] [pids=]     -> ok
 *   list                                  -> ok [<id> ...]
 *   any failure                           -> err <result_str> <message...>
 *
 * The daemon trusts nothing in a request beyond socket permissions (its
 * socket is mode 0660, group = the sandpit group); ids are validated by
 * id_is_name, numbers are range-checked.
 */
#ifndef SANDPIT_BOXPROTO_H
#define SANDPIT_BOXPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/result.h"

#define BOXPROTO_MAX_MSG (256u * 1024u)

/* boxproto_get: copy the value of token "key=value" in msg into out
 * (NUL-terminated). false when absent or too long for out. */
bool boxproto_get(const char *msg, const char *key, char *out, size_t size);

/* boxproto_get_u64: the decimal value of key; false when absent or malformed
 * (digits only, no overflow). */
bool boxproto_get_u64(const char *msg, const char *key, uint64_t *out);

/* boxproto_word: copy the n-th space-separated word (0-based) into out. */
bool boxproto_word(const char *msg, unsigned n, char *out, size_t size);

/* boxproto_result: map an "err <name>" reply to its result code. */
enum result boxproto_result(const char *reply);

#endif
