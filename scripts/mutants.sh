#!/usr/bin/env bash
# A small mutation check of the core modules, run on demand (not in CI):
# each mutant is one deliberate bug in the state machine, conditions,
# evaluation, dispatch, silences, inhibition, the ping store or the status
# page; the tests named beside it must fail ("killed"). A mutant that
# survives is a gap in the suite, unless the table in README's "Testing"
# section says why it may.
#
#   scripts/mutants.sh            all mutants
#   scripts/mutants.sh 3 5        only these (by number)
#
# It works on a clone of the committed tree in a temporary folder (the
# working tree is never touched), starts its own test servers, and prints
# one line per mutant: number, killed|SURVIVED|NOT APPLIED, what it breaks.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

# number @ file @ sed expression @ tests (cargo test arguments) @ what it breaks
MUTANTS=(
  '1@src/eval/state.rs@s/>= chrono_duration(rule.pending_for)/> chrono_duration(rule.pending_for)/@--lib --test cli@`for` fires one evaluation late (>= becomes >)'
  '2@src/eval/rule.rs@0,/            frozen = true;/s//            frozen = false;/@--lib --test resilience@a failing query resolves firing alerts'
  '3@src/rules/condition.rs@s/Op::Gt => value > self.threshold/Op::Gt => value >= self.threshold/@--lib@`> N` also fires at exactly N'
  '4@src/store/heartbeats.rs@s/"synchronous", "FULL"/"synchronous", "OFF"/@--test heartbeats@pings answered before they are on disk'
  '5@src/http/status.rs@s/labels = esc(&cut(&labels.join(" "))),/labels = cut(\&labels.join(" ")),/@--test status_page@labels not escaped on the status page'
  '6@src/notify/inhibit.rs@s/.filter(|(f, _)| \*\*f != fp)/.filter(|(_f, _)| true)/@--lib --test inhibition@an alert inhibits itself'
  '7@src/notify/dispatch.rs@s/base.saturating_mul(1u32 << exp)/base.saturating_mul(1u32)/@--lib@retries without exponential backoff'
  '8@src/notify/silence.rs@s/self.starts_at <= now \&\& now < self.ends_at/self.starts_at <= now \&\& now <= self.ends_at/@--lib --test silences@a silence is active at the very millisecond it ends'
)

work=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-mutants.XXXXXX")
env_dir="$work/testenv"
trap '"$repo/scripts/testenv.sh" stop "$env_dir" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git clone -q "$repo" "$work/tree"
"$repo/scripts/testenv.sh" start "$env_dir" $$ >/dev/null
set -a; . "$env_dir/env"; set +a
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/mutants}"
cd "$work/tree"

echo "building the unmutated tree (and checking its tests pass)..." >&2
all_tests=$(printf '%s\n' "${MUTANTS[@]}" | cut -d'@' -f4 | tr ' ' '\n' | grep -v '^--' | sort -u | sed 's/^/--test /' | tr '\n' ' ')
if ! cargo test -q --lib $all_tests >"$work/baseline.log" 2>&1; then
  echo "the unmutated tree fails its tests; see below" >&2
  tail -30 "$work/baseline.log" >&2
  exit 1
fi

killed=0 survived=0
for m in "${MUTANTS[@]}"; do
  IFS='@' read -r n file expr tests what <<<"$m"
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$n"; then continue; fi
  sed -i "$expr" "$file"
  if git diff --quiet -- "$file"; then
    printf '%2s  NOT APPLIED  %s (%s: the pattern no longer matches)\n' "$n" "$what" "$file"
    continue
  fi
  # shellcheck disable=SC2086
  if timeout 900 cargo test -q $tests >"$work/mutant-$n.log" 2>&1; then
    printf '%2s  SURVIVED     %s (%s; tests: %s)\n' "$n" "$what" "$file" "$tests"
    survived=$((survived + 1))
  else
    printf '%2s  killed       %s (%s)\n' "$n" "$what" "$file"
    killed=$((killed + 1))
  fi
  git checkout -q -- "$file"
done
echo "$killed killed, $survived survived"
