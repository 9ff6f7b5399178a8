// A fixed set of rules for the matcher targets: every operator, on the
// envelope's own fields (id, source, detail-type, time, resources), inside
// the detail, and on the top-level fields the conformance events use (a,
// b, c, d, f, ip, ...), so that random events reach every index of a
// shared matcher. Most come from tests/rules/conformance/patterns.jsonl.
#pragma once

namespace troupe::fuzz {

inline const char* const rule_set[] = {
    R"({"source": ["troupe.booking"], "detail-type": ["BookingCreated"]})",
    R"({"detail-type": ["BookingCreated", "BookingCancelled", "A"]})",
    R"({"detail-type": [{"prefix": "Booking"}], "source": [{"anything-but": "troupe.cli"}]})",
    R"({"id": [{"exists": true}], "resources": [{"prefix": "flight/"}]})",
    R"({"resources": ["arn:a", "arn:b"]})",
    R"({"time": [{"prefix": "2026-"}]})",
    R"({"time": [{"wildcard": "*T00:00:*Z"}], "source": [{"suffix": ".booking"}]})",
    R"({"detail": {"booking_id": [{"prefix": "B-"}], "amount": [{"numeric": [">", 100, "<=", 1000]}]}})",
    R"({"detail": {"amount": [249.9, {"numeric": ["<", 0]}]}})",
    R"({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}})",
    R"({"detail": {"state": [{"anything-but": {"prefix": ["init", "error"]}}]}})",
    R"({"detail": {"state": [{"equals-ignore-case": "RuNNing"}]}})",
    R"({"detail": {"path": [{"anything-but": {"wildcard": ["*/bin/*.jar", "*/bin/*.class"]}}]}})",
    R"({"detail": {"c": [{"exists": false}]}, "source": ["a"]})",
    R"({"detail": {"$or": [{"state": ["running"]}, {"code": [{"numeric": ["<", 10]}]}]}})",
    R"({"detail": {"items": {"sku": ["A1"], "qty": [2]}}})",
    R"({"detail": {"instance": {"state": {"name": ["running"]}}}})",
    R"({"detail": {"v": ["1", 1, true, null]}})",
    R"({"detail": {"owner": [null, ""]}})",
    R"({"detail": {"ip": ["10.0.0.1", "2001:db8::1"]}})",
    R"({"d": {"a": [{"exists": true}], "b": [{"exists": true}]}})",
    R"({"d": {"a": ["hello"], "b": ["world"]}})",
    R"({"d": {"a": [{"exists": true}], "b": [{"exists": false}]}})",
    R"({"d": {"name": [{"suffix": "ice"}], "type": [{"exists": true}]}})",
    R"({"d": {"vals": [{"numeric": [">", 0, "<", 10]}], "type": [{"exists": true}]}})",
    R"({"a": {"b": {"x": [{"exists": true}], "y": [{"exists": true}]}}})",
    R"({"a": ["x"], "b": [{"exists": true}]})",
    R"({"$or": [{"a": ["1"]}, {"b": [{"numeric": [">", 5]}]}]})",
    R"({"$or": [{"a": [{"exists": false}]}, {"b": ["x"]}]})",
    R"({"items": {"$or": [{"x": ["1"]}, {"y": ["2"]}], "z": ["3"]}})",
    R"({"items": {"sku": ["A1"], "voided": [{"exists": false}]}})",
    R"({"users": {"name": [{"exists": true}], "email": [{"exists": true}]}, "tags": ["admin"]})",
    R"({"c": [{"numeric": ["=", 0.1]}]})",
    R"({"c": [{"numeric": [">=", -10, "<=", -5]}]})",
    R"({"c": [{"numeric": ["<", 0]}, {"numeric": [">", 100]}]})",
    R"({"c": [5, {"numeric": ["=", 9007199254740992]}]})",
    R"({"c": [{"exists": true}, {"exists": false}]})",
    R"({"ip": [{"cidr": "10.0.0.0/24"}, "192.168.1.1"]})",
    R"({"ip": [{"cidr": "2001:db8::/32"}]})",
    R"({"ip": [{"cidr": "0.0.0.0/0"}]})",
    R"({"f": [{"wildcard": "*.png"}, {"wildcard": "a*b*c"}]})",
    R"({"f": [{"wildcard": "a\\*b"}, {"wildcard": "*ab*ab*"}]})",
    R"({"v": ["exact", {"prefix": "pre"}, {"numeric": [">", 5]}]})",
    R"({"v": [{"anything-but": "a"}, {"prefix": "a"}]})",
    R"({"code": [{"prefix": ""}], "region": [{"prefix": "us-"}, {"prefix": "eu-"}]})",
    R"({"service": [{"prefix": {"equals-ignore-case": "EventB"}}]})",
    R"({"file": [{"suffix": {"equals-ignore-case": ".PNG"}}]})",
    R"({"w": [{"equals-ignore-case": "\u0391\u0392\u0393"}], "city": [{"equals-ignore-case": "Z\u00dcRICH"}]})",
    R"({"name": [{"prefix": "Z\u00fc"}, {"suffix": "\u00e9"}]})",
    R"({"": ["x"], "a.x": ["1"]})",
};

} // namespace troupe::fuzz
