{
  "targets": [
    {
      "target_name": "hvt_freebsd_vmm",
      "sources": ["src/native/fb_vmm.c", "src/native/addon.cc"],
      "include_dirs": [
        "<!(node -p \"require('@hvtjs/posix-kit/native').include_dir\")"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_c": ["-std=c11", "-O2", "-Wall", "-Wextra", "-nostdinc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"],
      "cflags_cc!": ["-std=gnu++17"]
    }
  ]
}
