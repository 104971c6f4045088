package benchkit

import (
	"strings"
	"testing"
)

const exposition = `# HELP apiserver_admission_webhook_admission_duration_seconds x
# TYPE apiserver_admission_webhook_admission_duration_seconds histogram
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a.example.com",operation="CREATE",rejected="false",type="admit",le="0.005"} 1
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a.example.com",operation="CREATE",rejected="false",type="admit",le="+Inf"} 3
apiserver_admission_webhook_admission_duration_seconds_sum{name="a.example.com",operation="CREATE",rejected="false",type="admit"} 0.5
apiserver_admission_webhook_admission_duration_seconds_count{name="a.example.com",operation="CREATE",rejected="false",type="admit"} 3
apiserver_admission_webhook_admission_duration_seconds_bucket{name="a.example.com",operation="UPDATE",rejected="false",type="admit",le="+Inf"} 1
apiserver_admission_webhook_admission_duration_seconds_sum{name="a.example.com",operation="UPDATE",rejected="false",type="admit"} 0.25
apiserver_admission_webhook_admission_duration_seconds_count{name="a.example.com",operation="UPDATE",rejected="false",type="admit"} 1
# HELP workqueue_depth x
# TYPE workqueue_depth gauge
workqueue_depth{controller="c",name="managed-networkpolicy"} 2
workqueue_depth{controller="d",name="other"} 5
# HELP go_memstats_heap_inuse_bytes x
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 1.048576e+06
`

func TestParseSumSumCount(t *testing.T) {
	m, err := Parse("test", []byte(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sum("workqueue_depth", map[string]string{"name": "managed-networkpolicy"}); got != 2 {
		t.Errorf("Sum(workqueue_depth, name=managed-networkpolicy) = %v, want 2", got)
	}
	if got := m.Sum("workqueue_depth", nil); got != 7 {
		t.Errorf("Sum(workqueue_depth) = %v, want 7", got)
	}
	if got := m.Sum("go_memstats_heap_inuse_bytes", nil); got != 1<<20 {
		t.Errorf("Sum(heap) = %v, want %v", got, 1<<20)
	}
	if got := m.Sum("absent", nil); got != 0 {
		t.Errorf("Sum(absent) = %v, want 0", got)
	}
	got := m.SumCount("apiserver_admission_webhook_admission_duration_seconds", "name")
	if len(got) != 1 || got["a.example.com"] != [2]float64{0.75, 4} {
		t.Errorf("SumCount = %v, want a.example.com: [0.75 4]", got)
	}
	if got := m.SumCount("apiserver_admission_webhook_admission_duration_seconds", "policy"); len(got) != 0 {
		t.Errorf("SumCount by a label no sample has = %v, want none", got)
	}
}

func TestParseNamesTheSource(t *testing.T) {
	_, err := Parse("http://127.0.0.1:1/metrics", []byte("metric{label=\"unterminated} 1\n"))
	if err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:1/metrics") {
		t.Errorf("Parse of a broken exposition: %v, want an error naming where it was read", err)
	}
}

func TestSpliceScaleSection(t *testing.T) {
	section := ScaleBegin + "\nnew\n" + ScaleEnd + "\n"
	doc := "# Benchmarks\n\n## 4. Memory\n\n## Hand-written notes\n\nnotes\n"
	once := SpliceScaleSection(doc, section)
	if !strings.Contains(once, "## 4. Memory\n\n"+section+"\n## Hand-written notes") {
		t.Errorf("first write:\n%s", once)
	}
	if ScaleSection(once) != section {
		t.Errorf("ScaleSection = %q, want %q", ScaleSection(once), section)
	}
	twice := SpliceScaleSection(once, strings.Replace(section, "new", "newer", 1))
	if strings.Contains(twice, "\nnew\n") || strings.Count(twice, ScaleBegin) != 1 || !strings.Contains(twice, "newer") {
		t.Errorf("second write:\n%s", twice)
	}
	if ScaleSection("no section") != "" || ScaleSection(ScaleBegin+" without an end") != "" {
		t.Error("ScaleSection of a document without both markers: want empty")
	}
}
