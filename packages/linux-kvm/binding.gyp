{
  "targets": [
    {
      "target_name": "hvt_linux_kvm",
      "sources": [
        "src/native/common.cc",
        "src/native/system.cc",
        "src/native/vm.cc",
        "src/native/vcpu.cc",
        "src/native/memory.cc",
        "src/native/tap.cc",
        "src/native/eventfd.cc",
        "src/native/clock.cc",
        "src/native/signals.cc",
        "src/native/netring.cc",
        "src/native/sandbox.cc",
        "src/native/fastpath.cc",
        "src/native/debug.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('@hvtjs/posix-kit/native').include_dir\")"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "cflags_cc!": ["-std=gnu++17"],
      "libraries": ["<!(node scripts/find-libseccomp.mjs <(target_arch))"],
      "ldflags": ["-Wl,--exclude-libs,libseccomp.a"],
      "conditions": [
        ["target_arch=='arm64'", { "sources": ["src/native/vcpu_aarch64.cc"] }]
      ]
    }
  ]
}
