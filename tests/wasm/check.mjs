// The wasm tests' checks: each runs, prints ok/FAIL with the error's stack, and is counted, so a
// script reports every failure and then exits non-zero (`failures()`).

let failed = 0;

export async function check(name, f) {
  try {
    await f();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e?.stack ?? e}`);
  }
}

export function failures() {
  return failed;
}
