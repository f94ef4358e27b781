{
  "targets": [
    {
      "target_name": "hvt_probe",
      "sources": ["probe.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
