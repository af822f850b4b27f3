"""vhdx_fuzzer(): one harness, its seed generator and its regression test."""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")

def vhdx_fuzzer(name, srcs = [], seed_srcs = [], seed_deps = [], deps = []):
    """Declares the targets of the harness fuzz/<name>.c.

    <name>          the harness: a libFuzzer binary under --config=fuzz or
                    --config=afl, otherwise linked with the standalone driver.
    seeds_<name>    writes the seed corpus (corpus/<name>/) from our encoders.
    <name>_regress  a test running the harness over corpus/<name>/ and
                    corpus/regressions/<name>/ with no fuzzing engine.
    """
    driver = select({
        ":engine_libfuzzer": [],
        ":engine_afl": [],
        "//conditions:default": [":standalone_main"],
    })
    cc_binary(
        name = name,
        srcs = [name + ".c"] + srcs,
        deps = [":fuzz_common", "//:vhdx"] + deps + driver,
    )
    cc_binary(
        name = "seeds_" + name,
        testonly = True,
        srcs = [name + ".c", "seed_main.c"] + srcs + seed_srcs,
        copts = ["-DFUZZ_SEEDS"],
        deps = [":fuzz_common", "//:vhdx"] + deps + seed_deps,
    )
    # Medium: a minimised campaign corpus of the writer harness takes about
    # half a minute under ASan on a loaded 2-core machine.
    cc_test(
        name = name + "_regress",
        size = "medium",
        srcs = [name + ".c"] + srcs,
        deps = [":fuzz_common", "//:vhdx"] + deps + driver,
        data = ["//corpus:" + name],
        args = ["$(locations //corpus:" + name + ")"],
    )
