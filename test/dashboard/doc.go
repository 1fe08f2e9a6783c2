// Package dashboard tests the web dashboard of `naq-events serve` in a real
// browser: headless Chromium (Debian's chromium package) driven by
// chromedp, against the binary as it ships, on its embedded NATS server.
// It also checks the Grafana dashboard and the Prometheus alerting rules in
// docs/ against the metrics that server really exports.
//
// NAQ_SCREENSHOTS=dir makes TestDashboard also write a screenshot of each
// page, light and dark, into dir (`make screenshots` writes docs/images).
package dashboard
