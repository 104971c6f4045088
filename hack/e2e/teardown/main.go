// Command teardown deletes every Pod of the e2e node through the API while
// the kubelet still runs, so that the kubelet stops their containers and CNI
// releases their addresses and veths before hack/e2e/run.sh stops the node.
// Workload controllers are deleted first so that nothing recreates Pods.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the e2e cluster")
	flag.Parse()
	if err := run(*kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, "teardown:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing namespaces: %w", err)
	}
	grace := int64(1)
	for _, ns := range nss.Items {
		n := ns.Name
		_ = cs.AppsV1().Deployments(n).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		_ = cs.AppsV1().ReplicaSets(n).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		if err := cs.CoreV1().Pods(n).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &grace}, metav1.ListOptions{}); err != nil {
			return fmt.Errorf("deleting the Pods of %s: %w", n, err)
		}
	}
	for {
		pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing Pods: %w", err)
		}
		if len(pods.Items) == 0 {
			fmt.Fprintln(os.Stderr, "teardown: every Pod is gone")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d Pods still there, e.g. %s/%s", len(pods.Items), pods.Items[0].Namespace, pods.Items[0].Name)
		case <-time.After(time.Second):
		}
	}
}
