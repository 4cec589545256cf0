/* metrics: the Prometheus text exposition format (version 0.0.4) of one or more daemons' status —
 * the one generator behind both `sluice metrics` and the daemon's own `GET /metrics`
 * (metrics_http.h). */
#pragma once
#include <stddef.h>
#include "daemon/common/strbuf.h"
#include "daemon/status_model.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends every metric family once (HELP, TYPE), with the samples of each interface in sts[0..n)
 * under it. */
void metrics_text(const struct st_iface *sts, size_t n, struct strbuf *out);
