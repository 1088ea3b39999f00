/* log: one structured line per event (logfmt: ts, prog, level, sub, event, then key=value).
 * Owns the log sink (stderr by default, journald picks it up) and the level threshold. */
#ifndef SM_LOG_H
#define SM_LOG_H

typedef enum sm_log_level {
    SM_LOG_DEBUG = 0,
    SM_LOG_INFO,
    SM_LOG_NOTICE,
    SM_LOG_WARN,
    SM_LOG_ERR,
} sm_log_level;

/* prog names the emitter; fd is where lines go (2 = stderr). Safe to call again (reload). */
void sm_log_init(const char *prog, sm_log_level min, int fd);
void sm_log_set_level(sm_log_level min);
int sm_log_level_parse(const char *s, sm_log_level *out);
const char *sm_log_level_name(sm_log_level l);

/* Emits one line: "<ts> <prog>[pid] level=<l> sub=<sub> event=<event> <kv...>".
 * kvfmt builds the key=value tail; newlines and control characters in it are escaped so an
 * event is always exactly one line. Never pass secrets. Thread-safe (one write(2) per line). */
void sm_log(sm_log_level lvl, const char *sub, const char *event, const char *kvfmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Quotes a value for a key=value pair ("a b" -> "\"a b\""), into buf; returns buf. */
const char *sm_log_quote(char *buf, unsigned long bufsz, const char *s);

#define SM_LOGQ(buf, s) sm_log_quote((buf), sizeof(buf), (s))

#endif
