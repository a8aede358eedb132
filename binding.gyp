{
  "targets": [
    {
      "target_name": "ipvs",
      "sources": [
        "native/addon.cc",
        "native/handle.cc",
        "native/js_convert.cc",
        "native/ipvs_message.cc",
        "native/netlink_session.cc",
        "native/wire.cc",
        "native/listing.cc",
        "native/batch.cc",
        "native/json_requests.cc",
        "native/dumps.cc",
        "native/cursor.cc",
        "native/fingerprint.cc",
        "native/fingerprints.cc",
        "native/verify.cc",
        "native/probe_engine.cc",
        "native/worker_priority.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      # libnl. By default (npm install from source, npm run build): the
      # system's shared libnl-3 and libnl-genl-3, found by pkg-config. With
      # IPVS_LIBNL_STATIC=DIR (scripts/prebuild sets it to what
      # scripts/build-libnl prints): DIR's position-independent static
      # archives, and libstdc++/libgcc statically too, all of their symbols
      # kept private (--exclude-libs, -fvisibility=hidden: it exports only its
      # module entry point; --gc-sections drops the unused parts: 1.35 MB to
      # 0.9 MB), so the prebuilt addon needs only glibc.
      # The AddressSanitizer + UBSan variant (scripts/test-asan builds it in
      # build/asan/ with --ipvs_sanitize=1; node must preload the ASan runtime)
      # is the second condition.
      "variables": {
        "ipvs_libnl_static%": "<!(node -p \"process.env.IPVS_LIBNL_STATIC || ''\")",
        "ipvs_sanitize%": "0"
      },
      "conditions": [
        ["ipvs_libnl_static==''", {
          "include_dirs": ["<!@(pkg-config --cflags-only-I libnl-3.0 libnl-genl-3.0 | sed 's/-I//g')"],
          "libraries": ["<!@(pkg-config --libs libnl-3.0 libnl-genl-3.0)"]
        }, {
          "include_dirs": ["<(ipvs_libnl_static)/include"],
          "libraries": [
            "<(ipvs_libnl_static)/lib/libnl-genl-3.a",
            "<(ipvs_libnl_static)/lib/libnl-3.a",
            "-lpthread"
          ],
          "cflags": ["-fvisibility=hidden"],
          "cflags_cc": ["-fvisibility=hidden"],
          "ldflags": ["-static-libstdc++", "-static-libgcc", "-Wl,--exclude-libs,ALL", "-Wl,--gc-sections",
                      "-Wl,--version-script=<(module_root_dir)/scripts/addon-exports.map"]
        }],
        ["ipvs_sanitize==1", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
