/* base/diag.h: error codes and the one diagnostic a failing call leaves.
 *
 * Contract: the function that detects an error writes the single message
 * (diag_set) and returns the code; callers only propagate it; main prints
 * "file: message" once.  A diag is owned by the caller, lives on its stack,
 * and is never shared between threads.  No global state. */
#ifndef LLM_DIAG_H
#define LLM_DIAG_H

#include <stddef.h>

enum llm_err {
    LLM_OK = 0,
    LLM_ENOMEM,     /* allocation failed */
    LLM_EINVAL,     /* bad input: config, trace row, flag, stdin line */
    LLM_EIO,        /* a file could not be read or written */
    LLM_ERANGE,     /* a value overflowed or left its domain */
    LLM_ENOTFOUND   /* a named thing (model, device, policy) does not exist */
};

struct llm_diag {
    const char *file;   /* borrowed: the file the message is about, or NULL */
    int code;           /* enum llm_err of the first error, LLM_OK if none */
    char msg[512];      /* the message without the "file: " prefix */
};

/* Records code and message unless an error is already recorded (the first
 * detector wins, so context is never overwritten); returns code.  Control
 * bytes in the formatted message are escaped as diag_escape does (not
 * backslashes), so a message is one line whatever input it quotes. */
int diag_set(struct llm_diag *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Re-reports the error d holds as "prefix: <its message>", keeping its
 * code (a catalog lookup's message, named by the config key that asked
 * for it); returns the code.  Nothing when d holds no error. */
int diag_prefix(struct llm_diag *d, const char *prefix);

/* Formats "file: msg" (or "msg" when file is NULL) into buf. */
void diag_format(const struct llm_diag *d, char *buf, int len);

/* Copies s into buf (len >= 4) with every control byte, DEL and backslash
 * escaped (\n, \r, \t, \\, else \xHH), cut with "..." when it does not
 * fit, and returns buf.  Every key or name taken from input goes through
 * it before it reaches a message, so input can never start a message line
 * of its own (issue 23). */
const char *diag_escape(const char *s, char *buf, size_t len);

/* Exit status for a code: 0 ok, 2 bad input, 1 anything else. */
int diag_exit_status(int code);

#endif
