#!/usr/bin/python3
"""A strict checker of the Prometheus text exposition format (0.0.4), for
the tests of `rmlops-monitor --textfile` where promtool is not installed:

    check_exposition.py FILE

Checks every line: `# HELP name text`, `# TYPE name type` or a sample
`name{label="value",...} value [timestamp]`; names and label names by the
format's grammar; label values with only \\\\, \\" and \\n escapes; values
as Go's ParseFloat reads them (+Inf, -Inf, NaN included); HELP and TYPE at
most once per family and before its samples; a summary's samples named
name, name_sum or name_count, with a quantile label only on the first; no
sample twice; the file ends with a newline. Exit 0 when all is well, else 1
with the line that is not.
"""
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s=%s)(?:,%s=%s)*)?\})? (\S+)(?: (-?[0-9]+))?$"
                    % (NAME, LABEL, VALUE, LABEL, VALUE))
HELP = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
PAIR = re.compile(r"(%s)=(%s)" % (LABEL, VALUE))


def fail(n, line, why):
    print("line %d: %s: %r" % (n, why, line), file=sys.stderr)
    sys.exit(1)


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    if not text.endswith("\n"):
        fail(0, text[-40:], "no final newline")
    helps, types, done, seen = set(), {}, set(), set()
    family = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line.startswith("#"):
            m = HELP.match(line) or TYPE.match(line)
            if not m:
                if line.startswith("# HELP") or line.startswith("# TYPE"):
                    fail(n, line, "bad HELP or TYPE line")
                continue
            name = m.group(1)
            if name in done:
                fail(n, line, "HELP or TYPE after the family's samples")
            if line.startswith("# HELP"):
                if name in helps:
                    fail(n, line, "second HELP")
                helps.add(name)
            else:
                if name in types:
                    fail(n, line, "second TYPE")
                types[name] = m.group(2)
            if family and family != name:
                done.add(family)
            family = name
            continue
        m = SAMPLE.match(line)
        if not m:
            fail(n, line, "not a sample")
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        if value not in ("+Inf", "-Inf", "NaN"):
            try:
                float(value)
            except ValueError:
                fail(n, line, "bad value")
        base = name
        kind = types.get(name)
        for suffix in ("_sum", "_count"):
            if kind is None and name.endswith(suffix) and types.get(name[:-len(suffix)]) == "summary":
                base, kind = name[:-len(suffix)], "summary-part"
        if kind is None:
            fail(n, line, "sample without a TYPE")
        if base != family:
            fail(n, line, "sample outside its family's block")
        pairs = PAIR.findall(labels)
        names = [p[0] for p in pairs]
        if len(set(names)) != len(names):
            fail(n, line, "label twice")
        if kind == "summary-part" and "quantile" in names:
            fail(n, line, "quantile label on _sum or _count")
        key = (name, tuple(sorted(pairs)))
        if key in seen:
            fail(n, line, "sample twice")
        seen.add(key)


if __name__ == "__main__":
    main()
