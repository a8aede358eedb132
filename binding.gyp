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
        "native/json_requests.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I libnl-3.0 libnl-genl-3.0 | sed 's/-I//g')"
      ],
      "libraries": [
        "<!@(pkg-config --libs libnl-3.0 libnl-genl-3.0)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      # The AddressSanitizer + UBSan variant (scripts/test-asan builds it in
      # build/asan/ with --ipvs_sanitize=1; node must preload the ASan runtime).
      "variables": { "ipvs_sanitize%": "0" },
      "conditions": [
        ["ipvs_sanitize==1", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-O1", "-g"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
