/* Compiler helpers shared by every module. */
#ifndef VHDX_BASE_COMPILER_H
#define VHDX_BASE_COMPILER_H

#define MUST_USE __attribute__((warn_unused_result))
#define PRINTF_LIKE(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * ALWAYS(x) / NEVER(x) mark conditions believed impossible. Debug builds
 * assert them; release builds evaluate them and let the caller take the safe
 * branch, so a wrong belief never turns hostile input into a crash.
 */
#if defined(VHDX_DEBUG_ASSERTS)
#include <assert.h>
#define ALWAYS(x) ((x) ? 1 : (assert(0 && #x), 0))
#define NEVER(x) ((x) ? (assert(0 && #x), 1) : 0)
#else
#define ALWAYS(x) (!!(x))
#define NEVER(x) (!!(x))
#endif

/*
 * NO_COVERAGE keeps a function out of the fuzzers' coverage instrumentation
 * (-fsanitize-coverage calls back on every comparison). For loops whose
 * branches depend only on lengths, such as the checksum's, the callbacks
 * tell the fuzzer nothing an input can steer and cost a call per 8 bytes.
 * The sanitizers still check the function's memory accesses. Never
 * inlined: a body inlined into an instrumented caller is instrumented as
 * the caller's (crc32c_zeros inlined into crc32c_with_zero_field cost a
 * callback per bit of its multiplications).
 */
#if defined(__clang__) && __clang_major__ >= 13
#define NO_COVERAGE __attribute__((no_sanitize("coverage"), noinline))
#else
#define NO_COVERAGE
#endif

#endif
