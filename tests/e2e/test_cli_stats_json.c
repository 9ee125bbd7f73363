/* SPDX-License-Identifier: MIT */
/* test_cli_stats_json.c - --stats-json (issue 14): a JSON document that Python's json module
 * reads, whose numbers are those of the files (sizes, chunks) and of the devices (chunks,
 * failures, quarantine), with one record per input and the run's exit status. */
#include <sys/stat.h>

#include "cli.h"

TestSuite(cli_stats_json, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 60);

/* Check stats.json in dir against the files with Python: the script gets `doc` (the parsed
 * document), `d` (the directory) and `size(name)`, and must end without an exception. */
static void check_with_python(const char *checks)
{
	char script[8192];
	snprintf(script, sizeof(script),
		 "import json, os, sys\n"
		 "d = sys.argv[1]\n"
		 "def size(n): return os.stat(os.path.join(d, n)).st_size\n"
		 "with open(os.path.join(d, 'stats.json'), encoding='utf-8') as f:\n"
		 "    doc = json.load(f)\n"
		 "%s\n",
		 checks);
	cr_assert_eq(tu_write_file(tu_path(dir, "check.py"), script, strlen(script)), 0);
	int rc = tu_sh("/usr/bin/python3 '%s/check.py' '%s' > '%s/py.err' 2>&1", dir, dir, dir);
	cr_expect_eq(rc, 0, "%s\nstats.json: %s", tu_slurp(tu_path(dir, "py.err")),
		     tu_slurp(tu_path(dir, "stats.json")));
}

Test(cli_stats_json, compression_records_match_the_files_and_the_devices)
{
	uint8_t *data = tu_text(1 << 20, 21);
	tu_write_file(tu_path(dir, "a"), data, 1 << 20);
	tu_write_file(tu_path(dir, "b"), data, 1000);
	tu_write_file(tu_path(dir, "c.gz"), "x", 1);
	free(data);
	int rc = tu_sh("cd '%s' && '%s' gzip -k --devices cpu:2 -b 64 --stats-json stats.json "
		       "a b nothere c.gz 2>err",
		       dir, ORY_CLI);
	cr_expect_eq(rc, 1);
	check_with_python(
		"assert doc['command'] == 'gzip' and doc['mode'] == 'compress', doc\n"
		"assert doc['level'] == 6 and doc['devices'] == 'cpu:2'\n"
		"assert doc['chunk_kib'] == 64\n"
		"assert doc['exit_status'] == 1\n"
		"f = {r['name']: r for r in doc['files']}\n"
		"assert list(f) == ['a', 'b', 'nothere', 'c.gz'], list(f)\n"
		"for n in ('a', 'b'):\n"
		"    r = f[n]\n"
		"    assert r['status'] == 'ok' and r['output'] == n + '.gz', r\n"
		"    assert r['bytes_in'] == size(n) and r['bytes_out'] == size(n + '.gz'), r\n"
		"    assert r['chunks'] == (size(n) + 65535) // 65536, r\n"
		"    assert abs(r['ratio'] - r['bytes_out'] / r['bytes_in']) < 1e-5, r\n"
		"    assert r['seconds'] > 0 and r['mb_per_s'] > 0, r\n"
		"    devs = r['devices']\n"
		"    assert [x['name'] for x in devs] == ['cpu0', 'cpu1'], devs\n"
		"    assert sum(x['chunks'] for x in devs) == r['chunks'], devs\n"
		"    assert sum(x['bytes_in'] for x in devs) == r['bytes_in'], devs\n"
		"    assert not any(x['failures'] or x['quarantined'] for x in devs), devs\n"
		"assert f['nothere']['status'] == 'error', f['nothere']\n"
		"assert f['nothere']['message'] == 'nothere: No such file or directory'\n"
		"assert 'bytes_in' not in f['nothere']\n"
		"assert f['c.gz']['status'] == 'ok' and 'bytes_in' not in f['c.gz']\n"
		"t = doc['totals']\n"
		"assert t['files'] == 4 and t['bytes_in'] == size('a') + size('b'), t\n"
		"assert t['bytes_out'] == size('a.gz') + size('b.gz'), t\n");
}

Test(cli_stats_json, failing_devices_show_failures_quarantine_and_the_fallback)
{
	uint8_t *data = tu_text(2 << 20, 22);
	tu_write_file(tu_path(dir, "in"), data, 2 << 20);
	free(data);
	int rc = tu_sh("cd '%s' && '%s' gzip -k -q --devices 'fault:cpu:2?die_after=0' "
		       "--stats-json stats.json in",
		       dir, ORY_CLI);
	cr_expect_eq(rc, 0);
	check_with_python(
		"r = doc['files'][0]\n"
		"devs = r['devices']\n"
		"assert r['status'] == 'ok' and r['bytes_in'] == size('in'), r\n"
		"assert sum(x['chunks'] for x in devs) == r['chunks'] == 2, devs\n"
		"faulty = [x for x in devs if x['kind'] == 'fault']\n"
		"assert len(faulty) == 2 and all(x['chunks'] == 0 for x in faulty), devs\n"
		"assert sum(x['failures'] for x in faulty) >= 2, devs\n"
		"assert any(x['quarantined'] for x in faulty), devs\n"
		"assert all(x['reserve'] for x in devs if x['chunks']), devs\n"
		"assert r['retries'] >= 1, r\n");
}

Test(cli_stats_json, decompression_tests_and_odd_names_are_recorded)
{
	cr_assert_eq(tu_sh("cd '%s' && seq 50000 > 'we\"ird\\ na'\"$(printf '\\377\\001')\" && "
			   "seq 30000 > p && gzip -k p",
			   dir),
		     0);
	int rc = tu_sh("cd '%s' && '%s' gzip -k --stats-json stats.json we* 2>err && "
		       "'%s' gzip -dc --stats-json stats2.json p.gz >/dev/null && "
		       "'%s' gzip -t --stats-json stats3.json p.gz",
		       dir, ORY_CLI, ORY_CLI, ORY_CLI);
	cr_expect_eq(rc, 0, "%s", tu_slurp(tu_path(dir, "err")));
	check_with_python(
		"r = doc['files'][0]\n"
		"assert r['name'] == 'we\"ird\\\\ na\\ufffd\\x01', repr(r['name'])\n"
		"for name, mode, out in (('stats2.json', 'decompress', 'stdout'),\n"
		"                        ('stats3.json', 'test', None)):\n"
		"    with open(os.path.join(d, name)) as f:\n"
		"        doc = json.load(f)\n"
		"    r = doc['files'][0]\n"
		"    assert doc['mode'] == mode and r.get('output') == out, doc\n"
		"    assert r['bytes_in'] == size('p.gz') and r['bytes_out'] == size('p'), r\n"
		"    assert r['devices'] == [] and r['status'] == 'ok', r\n"
		"    assert r['chunks'] == 0, r\n");
}

Test(cli_stats_json, parallel_decompression_counts_its_chunks_per_device)
{
	uint8_t *data = tu_text(2 << 20, 23);
	tu_write_file(tu_path(dir, "in"), data, 2 << 20);
	free(data);
	int rc = tu_sh("cd '%s' && '%s' gzip -k -b 64 in && "
		       "'%s' gzip -dcv --devices cpu:2 --stats-json stats.json in.gz >out 2>err && "
		       "cmp in out",
		       dir, ORY_CLI, ORY_CLI);
	cr_expect_eq(rc, 0, "%s", tu_slurp(tu_path(dir, "err")));
	check_with_python(
		"r = doc['files'][0]\n"
		"assert doc['mode'] == 'decompress' and r['status'] == 'ok', doc\n"
		"assert r['chunks'] == 32 and r['bytes_out'] == size('in'), r\n"
		"mbps = r['bytes_out'] / r['seconds'] / 1e6  # seconds are rounded to 1 us\n"
		"assert abs(r['mb_per_s'] - mbps) <= 1e-3 * mbps, r\n"
		"devs = r['devices']\n"
		"assert [x['name'] for x in devs] == ['cpu0', 'cpu1'], devs\n"
		"assert sum(x['chunks'] for x in devs) == 32, devs\n"
		"assert 0 < sum(x['bytes_in'] for x in devs) < r['bytes_in'], devs\n");
	/* -v says the same on one line */
	expect_err_contains(dir, "in.gz: ");
	cr_expect_eq(tu_sh("grep -Eq 'in.gz: [0-9.]+ MB/s, ratio 0[.][0-9]+ .*2 devices: "
			   "cpu0=[0-9]+ cpu1=[0-9]+ chunks' '%s/err'",
			   dir),
		     0, "%s", tu_slurp(tu_path(dir, "err")));
}

Test(cli_stats_json, an_unwritable_stats_file_stops_the_run_before_any_work)
{
	tu_write_file(tu_path(dir, "a"), "abc", 3);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "--stats-json", tu_path(dir, "no/such/dir/s.json"),
			     tu_path(dir, "a"), NULL),
		     1);
	expect_err_contains(dir, "s.json: No such file or directory");
	expect_one_line(dir);
	cr_expect(tu_exists(tu_path(dir, "a")));
	cr_expect_not(tu_exists(tu_path(dir, "a.gz")));
	/* '-' is standard error, after the messages */
	cr_assert_eq(cli_run(dir, NULL, "gzip", "-k", "--stats-json", "-", tu_path(dir, "a"), NULL),
		     0);
	cr_assert_eq(tu_sh("cd '%s' && cp err stats.json", dir), 0);
	check_with_python("assert doc['files'][0]['bytes_in'] == 3\n");
}
