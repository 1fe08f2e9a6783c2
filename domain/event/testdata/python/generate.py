"""Writes the documents of this directory as the Python design's producer does.

store_event() in the design serialises with json.dumps(event_dict) (default
separators ", " and ": ", ensure_ascii=True); some files vary that (indent,
ensure_ascii=False, shuffled order, missing or extra fields) to cover what any
Python producer of the v1.0 format may write. Run: python3 generate.py
"""
import json


def full(**kw):
    d = {"version": "1.0", "job_id": "3f2b9c1e-8d4a-4c1e-9f00-1234567890ab", "event_type": "started",
         "timestamp": 1634567890.123, "worker_id": "worker-123", "worker_type": "async", "queue_name": "default",
         "message": "Job started on async worker worker-123", "details": {"priority": 0, "retry_count": 0},
         "error_type": None, "error_message": None, "duration_ms": None, "memory_mb": 45.2, "cpu_time_ms": 12.5,
         "tags": {"department": "engineering", "project": "naq"}, "metadata": {"custom_field": "custom_value"}}
    d.update(kw)
    return d


docs = {
    "design_started.json": json.dumps(full()),
    "design_example_pretty.json": json.dumps(full(), indent=2),
    "failed.json": json.dumps(full(event_type="failed", message="Job failed after 1500.00ms (retry 2)",
                                   details={"retry_count": 2}, error_type="ValueError",
                                   error_message="invalid literal for int() with base 10: 'x'", duration_ms=1500.0,
                                   memory_mb=None, cpu_time_ms=None, metadata={})),
    "integer_timestamp.json": json.dumps(full(timestamp=1634567890)),
    "seven_digit_timestamp.json": json.dumps(full(timestamp=1634567890.1234567)),
    "no_version_no_optionals.json": json.dumps({"job_id": "job-2", "event_type": "enqueued", "timestamp": 1700000000.5}),
    "null_maps.json": json.dumps(full(details=None, tags=None, metadata=None, worker_id=None)),
    "extra_fields_v1_3.json": json.dumps(full(version="1.3", trace_id="abc", retry={"n": [1, 2, {"x": None}]},
                                              sampled=True)),
    "unicode_ensure_ascii.json": json.dumps(full(message="Job démarré 🚀 on worker „w“", tags={"owner": "Zoë"},
                                                 metadata={"emoji": "🎉", "path": "C:\\tmp\\x\n"})),
    "unicode_raw.json": json.dumps(full(message="Job démarré 🚀", tags={"owner": "Zoë"}), ensure_ascii=False),
    "field_order_shuffled.json": json.dumps(dict(reversed(list(full(event_type="completed", duration_ms=12.5).items()))),
                                            indent="\t"),
    "nested_details.json": json.dumps(full(event_type="waiting_for_dependencies",
                                           details={"dependency_ids": ["a", "b"], "graph": {"a": [], "b": ["a"]},
                                                    "big": 12345678901234567890, "small": 1e-7, "neg": -3,
                                                    "flag": False})),
    "with_event_id.json": json.dumps(full(event_id="01JC0000000000000000000099", event_type="ttl_extended",
                                          details={"expires_at": 1634601600.25})),
}
for name, text in docs.items():
    with open(name, "w") as f:
        f.write(text + "\n")
