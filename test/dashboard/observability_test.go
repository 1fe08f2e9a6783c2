package dashboard

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/naq-go/events/domain/event"
)

var docsDir = filepath.Join("..", "..", "docs")

// exported scrapes the running service's /metrics, after an event went
// through the logger (so the series that appear on first use are there),
// and returns every series name it exports, with the _bucket, _sum and
// _count series of histograms and summaries.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	post(t, event.Enqueued("metrics-probe", "default", 0))
	body, err := srv.get(t.Context(), "/metrics")
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	names := map[string]bool{}
	for name, f := range fams {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		default:
		}
	}
	require.True(t, names["naq_events_logger_flush_duration_seconds_bucket"], "the scrape has the logger's histograms")
	require.True(t, names["naq_events_stored_total"], "the scrape has the stored-by-type counter")
	return names
}

// metricNames returns the metric names an expression selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	require.NoError(t, err, "PromQL %q", expr)
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	require.NotEmpty(t, names, "PromQL %q selects no metric by name", expr)
	return names
}

// unknown returns the names in expr that the service does not export.
func unknown(t *testing.T, have map[string]bool, expr string) []string {
	t.Helper()
	var out []string
	for _, n := range metricNames(t, expr) {
		if !have[n] {
			out = append(out, n)
		}
	}
	return out
}

// TestAlertRules checks docs/prometheus/alerts.yml as `promtool check
// rules` does (rulefmt.ParseFile: YAML, PromQL, templates, durations;
// then no duplicate rule), and that each alert names only metrics the
// running service exports.
func TestAlertRules(t *testing.T) {
	have := exported(t)
	assert.Equal(t, []string{"naq_events_no_such_metric"}, unknown(t, have, `rate(naq_events_no_such_metric[5m]) > 0`), "the check catches a name the service does not export")

	path := filepath.Join(docsDir, "prometheus", "alerts.yml")
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	require.Empty(t, errs, "promtool check rules %s", path)
	require.NotEmpty(t, groups.Groups)
	seen := map[string]bool{}
	referenced := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "only alerting rules in %s", path)
			assert.False(t, seen[r.Alert], "alert %s defined twice", r.Alert)
			seen[r.Alert] = true
			assert.Contains(t, []string{"critical", "warning"}, r.Labels["severity"], "alert %s: severity", r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], "alert %s: summary", r.Alert)
			assert.Empty(t, unknown(t, have, r.Expr), "alert %s names metrics the service does not export", r.Alert)
			for _, n := range metricNames(t, r.Expr) {
				referenced[n] = true
			}
		}
	}
	for _, m := range []string{
		"naq_events_logger_dropped_total",               // events dropped
		"naq_events_logger_breaker_open",                // breaker open
		"naq_events_logger_spill_pending",               // spill growing
		"naq_events_processor_lag",                      // processor lag
		"naq_events_processor_dead_lettered_total",      // dead letters rising
		"naq_events_processor_dead_letter_errors_total", // dead letters not even written
		"naq_events_nats_connected",                     // NATS disconnected
	} {
		assert.True(t, referenced[m], "no alert on %s", m)
	}
}

// grafanaVars are the dashboard's variables with a value PromQL parses.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m", "$instance", ".*")

type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	GridPos    map[string]int `json:"gridPos"`
	Datasource map[string]any `json:"datasource"`
	Targets    []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// TestGrafanaDashboard checks docs/grafana/naq-events.json: it is a
// dashboard Grafana imports (title, uid, schemaVersion, panels with ids
// and positions, a Prometheus datasource variable), and every query parses
// as PromQL and names only metrics the running service exports.
func TestGrafanaDashboard(t *testing.T) {
	have := exported(t)
	raw, err := os.ReadFile(filepath.Join(docsDir, "grafana", "naq-events.json"))
	require.NoError(t, err)
	var dash struct {
		Title         string         `json:"title"`
		UID           string         `json:"uid"`
		SchemaVersion int            `json:"schemaVersion"`
		Panels        []grafanaPanel `json:"panels"`
		Templating    struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	require.NoError(t, dec.Decode(&dash))
	assert.Equal(t, "naq-events", dash.Title)
	assert.NotEmpty(t, dash.UID)
	assert.GreaterOrEqual(t, dash.SchemaVersion, 36)

	vars := map[string]bool{}
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*),\s*[a-zA-Z_]+\)$`)
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
		if q, ok := v.Query.(map[string]any); ok {
			m := labelValues.FindStringSubmatch(q["query"].(string))
			require.Len(t, m, 2, "variable %s: query %v", v.Name, q["query"])
			assert.True(t, have[m[1]], "variable %s reads %s, which the service does not export", v.Name, m[1])
		}
	}
	require.True(t, vars["datasource"] && vars["instance"], "the dashboard has the datasource and instance variables")

	ids := map[int]bool{}
	queries := 0
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			assert.False(t, ids[p.ID], "panel id %d used twice", p.ID)
			ids[p.ID] = true
			assert.NotEmpty(t, p.Title)
			for _, k := range []string{"w", "h"} {
				assert.Positive(t, p.GridPos[k], "panel %q: gridPos.%s", p.Title, k)
			}
			if p.Type != "row" {
				assert.Equal(t, "${datasource}", p.Datasource["uid"], "panel %q uses the datasource variable", p.Title)
				assert.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
			}
			var refs []string
			for _, tg := range p.Targets {
				queries++
				assert.False(t, slices.Contains(refs, tg.RefID), "panel %q: refId %s twice", p.Title, tg.RefID)
				refs = append(refs, tg.RefID)
				assert.Empty(t, unknown(t, have, grafanaVars.Replace(tg.Expr)), "panel %q: %s", p.Title, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	assert.Greater(t, queries, 20)
}
