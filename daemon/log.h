/* log: sluiced's log lines on stderr. Under systemd (JOURNAL_STREAM set) each line carries its syslog priority
 * prefix (<3>…<7>) so journald filters by level; elsewhere "sluiced: LEVEL: text". State transitions only —
 * never a line per packet. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

void log_init(int verbosity);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* A token bucket for messages that hostile input could trigger: at most `burst` lines, then one per
 * `interval_ms`; suppressed lines are counted and reported with the next one allowed. */
struct log_limit {
	uint64_t next_ms;
	uint32_t burst_left;
	uint32_t suppressed;
};
/* true when a line may be written now; *suppressed gets how many were dropped since the last one. */
bool log_limit_ok(struct log_limit *l, uint64_t now_ms, uint32_t burst, uint32_t interval_ms,
		  uint32_t *suppressed);
