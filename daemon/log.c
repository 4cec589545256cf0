/* log: level filter, journald priority prefixes, rate limiting of hostile-input messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "daemon/log.h"

static enum log_level log_max = LOG_LVL_INFO;
static bool log_journal;

void log_init(int verbosity)
{
	log_max = verbosity > 0 ? LOG_LVL_DEBUG : LOG_LVL_INFO;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

static const char *level_name(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_ERR:
		return "error";
	case LOG_LVL_WARN:
		return "warning";
	case LOG_LVL_INFO:
		return "info";
	case LOG_LVL_DEBUG:
		return "debug";
	}
	return "?";
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (lvl > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", (int)lvl, line);
	else
		fprintf(stderr, "sluiced: %s: %s\n", level_name(lvl), line);
}

bool log_limit_ok(struct log_limit *l, uint64_t now_ms, uint32_t burst, uint32_t interval_ms,
		  uint32_t *suppressed)
{
	if (now_ms >= l->next_ms) {
		l->burst_left = burst;
		l->next_ms = now_ms + interval_ms;
	}
	if (l->burst_left == 0) {
		l->suppressed++;
		return false;
	}
	l->burst_left--;
	*suppressed = l->suppressed;
	l->suppressed = 0;
	return true;
}
