/* SPDX-License-Identifier: Apache-2.0 */
#include "opts.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_uint(const char *s, uint64_t *v, char *err, size_t errlen)
{
	uint64_t r = 0;
	if (!*s) {
		snprintf(err, errlen, "expected a number, got an empty string");
		return -1;
	}
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9') {
			snprintf(err, errlen, "'%s' is not a non-negative integer", s);
			return -1;
		}
		unsigned d = (unsigned)(*p - '0');
		if (r > (UINT64_MAX - d) / 10) {
			snprintf(err, errlen, "'%s' is too large", s);
			return -1;
		}
		r = r * 10 + d;
	}
	*v = r;
	return 0;
}

/* number with an optional fractional part and a unit suffix */
static int split_num(const char *s, double *num, const char **unit)
{
	char *end;
	errno = 0;
	/* digits first: no sign, space, "inf", "nan" or hex ("0x10") */
	if (!((*s >= '0' && *s <= '9') || *s == '.') || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
		return -1;
	*num = strtod(s, &end); /* the argument is a C string from argv, not wire data */
	if (errno || end == s || !(*num >= 0 && *num <= 1.8e19))
		return -1;
	*unit = end;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *v, char *err, size_t errlen)
{
	double n;
	const char *u;
	double mul;
	if (split_num(s, &n, &u) < 0)
		goto bad;
	if (!*u || !strcmp(u, "B") || !strcmp(u, "b"))
		mul = 1;
	else if (!strcasecmp(u, "k") || !strcasecmp(u, "KiB") || !strcasecmp(u, "KB"))
		mul = 1024.0;
	else if (!strcasecmp(u, "m") || !strcasecmp(u, "MiB") || !strcasecmp(u, "MB"))
		mul = 1024.0 * 1024;
	else if (!strcasecmp(u, "g") || !strcasecmp(u, "GiB") || !strcasecmp(u, "GB"))
		mul = 1024.0 * 1024 * 1024;
	else if (!strcasecmp(u, "t") || !strcasecmp(u, "TiB") || !strcasecmp(u, "TB"))
		mul = 1024.0 * 1024 * 1024 * 1024;
	else
		goto bad;
	if (n * mul > 1.8e19)
		goto bad;
	*v = (uint64_t)(n * mul + 0.5);
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not a size (examples: 4096, 64k, 16M, 1G)", s);
	return -1;
}

int cli_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen)
{
	double n, mul;
	const char *u;
	if (split_num(s, &n, &u) < 0)
		goto bad;
	if (!*u || !strcmp(u, "s"))
		mul = 1e9;
	else if (!strcmp(u, "ms"))
		mul = 1e6;
	else if (!strcmp(u, "us"))
		mul = 1e3;
	else if (!strcmp(u, "ns"))
		mul = 1;
	else if (!strcmp(u, "m") || !strcmp(u, "min"))
		mul = 60e9;
	else if (!strcmp(u, "h"))
		mul = 3600e9;
	else if (!strcmp(u, "d"))
		mul = 86400e9;
	else
		goto bad;
	if (n * mul > 1.8e19)
		goto bad;
	*ns = (uint64_t)(n * mul + 0.5);
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not a duration (examples: 10s, 250ms, 100us, 5m, 1h)", s);
	return -1;
}

static const struct cli_opt *find_long(const struct cli_cmd *cmd, const char *name, size_t len)
{
	for (size_t i = 0; i < cmd->nopts; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		if (strlen(o->name) == len && !strncmp(o->name, name, len))
			return o;
	}
	return NULL;
}

static const struct cli_opt *find_short(const struct cli_cmd *cmd, char c)
{
	for (size_t i = 0; i < cmd->nopts; i++)
		if (cmd->opts[i].shortname == c)
			return &cmd->opts[i];
	return NULL;
}

/* A bound in the option's own unit: "1 KiB", "1ms", "16". */
static void fmt_bound(const struct cli_opt *o, uint64_t v, char *buf, size_t len)
{
	if (o->type == CLI_SIZE)
		cli_fmt_bytes(v, buf, len);
	else if (o->type == CLI_DURATION)
		cli_fmt_duration(v, buf, len);
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void range_error(const struct cli_opt *o, const char *arg, char *err, size_t errlen)
{
	char lo[32], hi[32];

	fmt_bound(o, o->min, lo, sizeof(lo));
	fmt_bound(o, o->max, hi, sizeof(hi));
	if (o->min && o->max)
		snprintf(err, errlen, "--%s: %s is out of range (%s to %s)", o->name, arg, lo, hi);
	else if (o->max)
		snprintf(err, errlen, "--%s: %s is out of range (at most %s)", o->name, arg, hi);
	else
		snprintf(err, errlen, "--%s: %s is out of range (at least %s)", o->name, arg, lo);
}

static int apply(const struct cli_opt *o, void *opts, const char *arg, char *err, size_t errlen)
{
	char *field = (char *)opts + o->off;
	char sub[192];
	uint64_t v = 0;
	int r = 0;

	switch (o->type) {
	case CLI_FLAG: *(bool *)(void *)field = true; return 0;
	case CLI_STRING: *(const char **)(void *)field = arg; return 0;
	case CLI_UINT: r = cli_parse_uint(arg, &v, sub, sizeof(sub)); break;
	case CLI_SIZE: r = cli_parse_size(arg, &v, sub, sizeof(sub)); break;
	case CLI_DURATION: r = cli_parse_duration(arg, &v, sub, sizeof(sub)); break;
	case CLI_DOUBLE: {
		char *end;
		errno = 0;
		double d = strtod(arg, &end);
		if (errno || end == arg || *end) {
			snprintf(err, errlen, "--%s: '%s' is not a number", o->name, arg);
			return -1;
		}
		if ((o->min && d < (double)o->min) || (o->max && d > (double)o->max)) {
			range_error(o, arg, err, errlen);
			return -1;
		}
		*(double *)(void *)field = d;
		return 0;
	}
	case CLI_CHOICE:
		for (int i = 0; o->choices[i]; i++) {
			if (!strcmp(o->choices[i], arg)) {
				*(int *)(void *)field = i;
				return 0;
			}
		}
		{
			size_t n = (size_t)snprintf(err, errlen, "--%s: '%s' is not one of:", o->name, arg);
			for (int i = 0; o->choices[i] && n < errlen; i++)
				n += (size_t)snprintf(err + n, errlen - n, " %s", o->choices[i]);
		}
		return -1;
	case CLI_CALLBACK:
		if (o->cb(opts, arg, sub, sizeof(sub)) < 0) {
			snprintf(err, errlen, "--%s: %s", o->name, sub);
			return -1;
		}
		return 0;
	}
	if (r < 0) {
		snprintf(err, errlen, "--%s: %s", o->name, sub);
		return -1;
	}
	if (v < o->min || (o->max && v > o->max)) {
		range_error(o, arg, err, errlen);
		return -1;
	}
	*(uint64_t *)(void *)field = v;
	return 0;
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, void *opts, int *npos,
	      char ***pos, char *err, size_t errlen)
{
	int n = 0;
	bool only_pos = false;

	memcpy(opts, cmd->defaults, cmd->opts_size);
	/* positionals are compacted to the front of argv + 1 */
	char **out = argv + 1;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (only_pos || a[0] != '-' || a[1] == 0) {
			out[n++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			if (!cmd->passthrough) {
				only_pos = true;
				continue;
			}
			/* keep "--" and the rest for the command (DPDK EAL flags) */
			for (; i < argc; i++)
				out[n++] = argv[i];
			break;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return 1;
		const struct cli_opt *o;
		const char *arg = NULL;
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			o = find_long(cmd, name, len);
			if (!o) {
				snprintf(err, errlen, "unknown option --%.*s", (int)len, name);
				return -1;
			}
			if (eq)
				arg = eq + 1;
			if (o->type == CLI_FLAG && arg) {
				snprintf(err, errlen, "--%s takes no value", o->name);
				return -1;
			}
		} else {
			o = find_short(cmd, a[1]);
			if (!o) {
				snprintf(err, errlen, "unknown option -%c", a[1]);
				return -1;
			}
			if (a[2]) {
				if (o->type == CLI_FLAG) {
					snprintf(err, errlen, "-%c takes no value (give flags separately: -%c -%c)",
						 a[1], a[1], a[2]);
					return -1;
				}
				arg = a + 2;
			}
		}
		if (o->type != CLI_FLAG && !arg) {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "--%s needs a value (%s)", o->name,
					 o->metavar ? o->metavar : "VALUE");
				return -1;
			}
			arg = argv[++i];
		}
		if (apply(o, opts, arg, err, errlen) < 0)
			return -1;
	}
	if (n < cmd->min_pos) {
		snprintf(err, errlen, "missing argument%s: %s", cmd->min_pos > 1 ? "s" : "",
			 cmd->args ? cmd->args : "?");
		return -1;
	}
	if (cmd->max_pos >= 0 && n > cmd->max_pos) {
		snprintf(err, errlen, "unexpected argument '%s'", out[cmd->max_pos]);
		return -1;
	}
	*npos = n;
	*pos = out;
	return 0;
}

static void fmt_default(const struct cli_opt *o, const void *defaults, char *buf, size_t len)
{
	const char *field = (const char *)defaults + o->off;
	char tmp[64];
	buf[0] = 0;
	if (o->defhelp) {
		snprintf(buf, len, "%s", o->defhelp);
		return;
	}
	switch (o->type) {
	case CLI_STRING: {
		const char *s = *(const char *const *)(const void *)field;
		if (s)
			snprintf(buf, len, "%s", s);
		break;
	}
	case CLI_UINT: snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)(const void *)field); break;
	case CLI_SIZE: snprintf(buf, len, "%s", cli_fmt_bytes(*(const uint64_t *)(const void *)field, tmp, sizeof(tmp))); break;
	case CLI_DURATION: snprintf(buf, len, "%s", cli_fmt_duration(*(const uint64_t *)(const void *)field, tmp, sizeof(tmp))); break;
	case CLI_DOUBLE: snprintf(buf, len, "%g", *(const double *)(const void *)field); break;
	case CLI_CHOICE: snprintf(buf, len, "%s", o->choices[*(const int *)(const void *)field]); break;
	default: break;
	}
}

void cli_help(const struct cli_cmd *cmd, FILE *f)
{
	fprintf(f, "Usage: mbx %s [OPTIONS]%s%s\n\n%s\n", cmd->name, cmd->args ? " " : "",
		cmd->args ? cmd->args : "", cmd->summary);
	if (cmd->description)
		fprintf(f, "\n%s\n", cmd->description);
	fprintf(f, "\nOptions:\n");
	for (size_t i = 0; i < cmd->nopts; i++) {
		const struct cli_opt *o = &cmd->opts[i];
		char left[64], def[96];
		int n = snprintf(left, sizeof(left), "  %c%c%s--%s", o->shortname ? '-' : ' ',
				 o->shortname ? o->shortname : ' ', o->shortname ? ", " : "  ", o->name);
		if (o->type != CLI_FLAG && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->metavar ? o->metavar : "VALUE");
		fmt_default(o, cmd->defaults, def, sizeof(def));
		if (strlen(left) > 30)
			fprintf(f, "%s\n%-31s", left, "");
		else
			fprintf(f, "%-31s", left);
		fprintf(f, "%s", o->help);
		if (o->type == CLI_CHOICE) {
			fprintf(f, " (");
			for (int k = 0; o->choices[k]; k++)
				fprintf(f, "%s%s", k ? "|" : "", o->choices[k]);
			fprintf(f, ")");
		}
		if (def[0])
			fprintf(f, " [default: %s]", def);
		fprintf(f, "\n");
	}
	fprintf(f, "  -h, --help                   show this help\n");
}

const char *cli_fmt_count(uint64_t v, char *buf, size_t len)
{
	if (v < 10000)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else if (v < 10000000)
		snprintf(buf, len, "%.1fk", (double)v / 1e3);
	else if (v < 10000000000ULL)
		snprintf(buf, len, "%.1fM", (double)v / 1e6);
	else
		snprintf(buf, len, "%.1fG", (double)v / 1e9);
	return buf;
}

const char *cli_fmt_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	int u = 0;
	while (d >= 1024 && u < 4) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	else if (d == (double)(uint64_t)d)
		snprintf(buf, len, "%llu %s", (unsigned long long)d, unit[u]);
	else
		snprintf(buf, len, "%.1f %s", d, unit[u]);
	return buf;
}

const char *cli_fmt_duration(uint64_t ns, char *buf, size_t len)
{
	if (ns == 0)
		snprintf(buf, len, "0");
	else if (ns % 3600000000000ULL == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)(ns / 3600000000000ULL));
	else if (ns % 60000000000ULL == 0 && ns >= 60000000000ULL)
		snprintf(buf, len, "%llum", (unsigned long long)(ns / 60000000000ULL));
	else if (ns % 1000000000ULL == 0)
		snprintf(buf, len, "%llus", (unsigned long long)(ns / 1000000000ULL));
	else if (ns % 1000000ULL == 0)
		snprintf(buf, len, "%llums", (unsigned long long)(ns / 1000000ULL));
	else if (ns % 1000ULL == 0)
		snprintf(buf, len, "%lluus", (unsigned long long)(ns / 1000ULL));
	else if (ns >= 1000000000ULL)
		snprintf(buf, len, "%.3fs", (double)ns / 1e9);
	else
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	return buf;
}

int cli_parse_cpu_list(const char *s, int *cpus, unsigned max, unsigned *n, char *err,
		       size_t errlen)
{
	const char *p = s;

	*n = 0;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b;
		if (end == p || a < 0 || a > 4095)
			goto bad;
		b = a;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			if (end == p + 1 || b < a || b > 4095)
				goto bad;
			p = end;
		}
		for (long c = a; c <= b; c++) {
			if (*n >= max) {
				snprintf(err, errlen, "at most %u CPUs", max);
				return -1;
			}
			cpus[(*n)++] = (int)c;
		}
		if (*p == ',')
			p++;
		else if (*p)
			goto bad;
	}
	if (*n)
		return 0;
bad:
	snprintf(err, errlen, "'%s' is not a CPU list (e.g. 2-5 or 1,3)", s);
	return -1;
}
