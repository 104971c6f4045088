package policy

import (
	"encoding/json"
	"testing"
)

// BenchmarkEncodePatch compares the hand-written writer with encoding/json
// on the patches mutation makes for the bench Pods.
func BenchmarkEncodePatch(b *testing.B) {
	e := testEngine(b, nil)
	for name, pod := range benchPods(b) {
		if name == "passing" {
			pod = pod.DeepCopy()
			for i := range pod.Spec.Containers {
				pod.Spec.Containers[i].Env = nil
			}
		}
		ops := e.Options().MutatePatch(pod.DeepCopy(), ScopePod).Patch
		b.Run(name+"/append", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := AppendPatch(make([]byte, 0, 128*len(ops)), ops); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(ops); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Logf("%s: %d operations", name, len(ops))
	}
}
