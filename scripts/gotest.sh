#!/usr/bin/env bash
# gotest.sh MODULE... — runs `go test $GOTEST_FLAGS ./...` (default
# -race -count=1) in each module through gotestsum, keeps going after a
# failing module, and closes with one line counting every test and subtest:
#   tests: N passed, N failed, N skipped
# Exits non-zero when any module failed (a build error counts as a failure).
# The JSON event stream of each module is kept in test-results/<module>.json,
# the closing line in test-results/summary.txt.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
gotestsum=${GOTESTSUM:-$root/bin/gotestsum}
read -r -a flags <<<"${GOTEST_FLAGS:--race -count=1 -timeout 20m}"
results=$root/test-results
mkdir -p "$results"

# count ACTION FILE: test-level events (those naming a Test) with that action.
count() {
	grep -F '"Test":' "$2" 2>/dev/null | grep -cF "\"Action\":\"$1\"" || true
}

passed=0 failed=0 skipped=0
failed_modules=()
for m in "$@"; do
	json=$results/$m.json
	rm -f "$json"
	if [[ -z $(cd "$root/$m" && go list ./... 2>/dev/null) ]]; then
		echo "== $m: no packages yet"
		continue
	fi
	echo "== $m: go test ${flags[*]} ./..."
	if (cd "$root/$m" && "$gotestsum" --format pkgname-and-test-fails --format-icons text --format-hide-empty-pkg \
		--jsonfile "$json" -- "${flags[@]}" ./...); then
		ok=1
	else
		ok=0
		failed_modules+=("$m")
	fi
	p=$(count pass "$json") f=$(count fail "$json") s=$(count skip "$json")
	# A module that failed without a failing test (build error, panic in
	# TestMain, vet) still counts as one failure.
	if ((ok == 0 && f == 0)); then f=1; fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done

echo
if ((${#failed_modules[@]} > 0)); then
	echo "FAIL in module(s): ${failed_modules[*]} (details above; JSON in test-results/)"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped" | tee "$results/summary.txt"
((${#failed_modules[@]} == 0))
