/* log.h: one key=value line per event on stderr (ts= lvl= proc= pid= req=
 * mod= msg=; req= only while a request id is set). */
#ifndef SANDPIT_LOG_H
#define SANDPIT_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* log_level_from: "debug", "info", "warn" or "error" (SANDPIT_LOG_LEVEL);
 * anything else is info. */
enum log_level log_level_from(const char *name);

/* log_init: name the process (e.g. "api") and set the minimum level. */
void log_init(const char *proc, enum log_level min);

/* log_set_request: request id attached to following lines of this thread
 * (NULL clears). The string is copied. */
void log_set_request(const char *req_id);

/* log_msg: the message is printf-style and should be lowercase, the subject
 * quoted. Extra key=value pairs may follow in the format ("... path=%s"). */
void log_msg(enum log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* log_errno: like log_msg, with ' err="<strerror(errno)>"' at the end; errno
 * is left as it was. */
void log_errno(enum log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_info(mod, ...)  log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warnx(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_errno(LOG_WARN, mod, __VA_ARGS__)
#define log_errx(mod, ...)  log_msg(LOG_ERROR, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)

#endif
