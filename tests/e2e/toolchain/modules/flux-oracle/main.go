// Command flux-oracle writes what `flux bootstrap` commits, with flux2's own generator packages
// (pkg/manifestgen/install, sync and kustomization) at the pinned Flux release. It is the test
// oracle of flux-gitops (tests/e2e/oracle.py) and runs offline:
//
//	flux-oracle release -flux2 DIR -controller NAME=DIR ... -out DIR
//	    What the release publishes, built offline from the modules: OUT/bundle/ (the files of
//	    manifests.tar.gz: for every base of flux2's manifests/bases whose controller module is
//	    given, the base built over the controller's release assets, which are `kustomize build
//	    config/crd` and `config/manager` of its module; rbac.yaml and policies.yaml) and, when
//	    every controller is given, OUT/install.yaml (`kustomize build manifests/install`).
//	flux-oracle bootstrap -bundle DIR -out DIR -url URL -branch B -path P [install flags]
//	    clusters/<c>/flux-system/{gotk-components,gotk-sync,kustomization}.yaml, as
//	    `flux bootstrap git` writes them for those flags.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/flux2/v2/pkg/manifestgen/install"
	"github.com/fluxcd/flux2/v2/pkg/manifestgen/kustomization"
	"github.com/fluxcd/flux2/v2/pkg/manifestgen/sync"
	"github.com/fluxcd/pkg/kustomize/filesys"
	"sigs.k8s.io/kustomize/api/krusty"
	kfilesys "sigs.k8s.io/kustomize/kyaml/filesys"
)

type pairs map[string]string

func (p pairs) String() string { return fmt.Sprint(map[string]string(p)) }

func (p pairs) Set(v string) error {
	name, dir, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want NAME=DIR, got %q", v)
	}
	p[name] = dir
	return nil
}

type list []string

func (l *list) String() string { return strings.Join(*l, ",") }

func (l *list) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "flux-oracle: "+format+"\n", args...)
	os.Exit(1)
}

// copyDir copies a directory tree of plain files (module sources are read-only).
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// build is `flux`'s own in-process build (what `flux install` does with the bundle).
func build(dir string) []byte {
	out, err := kustomization.Build(dir)
	if err != nil {
		fail("kustomize build %s: %v", dir, err)
	}
	return out
}

// cliBuild is `kustomize build DIR` as the release scripts run it: the kustomize CLI's defaults,
// which differ from flux's in-process build in one way that shows in the bytes: resources come
// out in kustomize's legacy kind order (Namespace, ResourceQuota, ..., ClusterRole, ...) rather
// than in input order.
func cliBuild(dir string) []byte {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	m, err := krusty.MakeKustomizer(opts).Run(kfilesys.MakeFsOnDisk(), dir)
	if err != nil {
		fail("kustomize build %s: %v", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		fail("kustomize build %s: %v", dir, err)
	}
	return out
}

var releaseAsset = regexp.MustCompile(`^- (https://github\.com/fluxcd/([a-z-]+)/releases/download/[^/]+/([a-z.-]+))$`)

// release writes what a Flux release publishes, built offline: bundle/ (manifests.tar.gz's
// files: each controller base, rbac.yaml, policies.yaml, as manifests/scripts/bundle.sh makes
// them) and, when every controller module is given, install.yaml (`kustomize build
// manifests/install`, as the release workflow makes it).
func release(args []string) {
	fs := flag.NewFlagSet("release", flag.ExitOnError)
	flux2 := fs.String("flux2", "", "flux2 module directory")
	out := fs.String("out", "", "output directory")
	controllers := pairs{}
	fs.Var(controllers, "controller", "NAME=DIR of a controller module (repeatable)")
	_ = fs.Parse(args)
	if *flux2 == "" || *out == "" {
		fail("release needs -flux2 and -out")
	}
	work, err := os.MkdirTemp("", "flux-oracle-")
	if err != nil {
		fail("%v", err)
	}
	defer os.RemoveAll(work)
	manifests := filepath.Join(work, "manifests")
	if err := copyDir(filepath.Join(*flux2, "manifests"), manifests); err != nil {
		fail("%v", err)
	}
	bundleDir := filepath.Join(*out, "bundle")
	if err := os.MkdirAll(bundleDir, 0o755); err != nil {
		fail("%v", err)
	}
	bases, _ := filepath.Glob(filepath.Join(manifests, "bases", "*"))
	sort.Strings(bases)
	allBases := true
	for _, dir := range bases {
		name := filepath.Base(dir)
		kpath := filepath.Join(dir, "kustomization.yaml")
		kfile, err := os.ReadFile(kpath)
		if err != nil {
			fail("%v", err)
		}
		lines := strings.Split(string(kfile), "\n")
		complete := true
		for i, line := range lines {
			m := releaseAsset.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			module, ok := controllers[m[2]]
			if !ok {
				complete = false
				break
			}
			// the controllers' releases publish `kustomize build config/crd` and
			// `kustomize build config/manager` as <name>.crds.yaml and <name>.deployment.yaml
			var src string
			switch {
			case strings.HasSuffix(m[3], ".crds.yaml"):
				src = filepath.Join(module, "config", "crd")
			case strings.HasSuffix(m[3], ".deployment.yaml"):
				src = filepath.Join(module, "config", "manager")
			default:
				fail("%s: unknown release asset %s", name, m[1])
			}
			tmp := filepath.Join(work, "assets", m[2], filepath.Base(src))
			if err := copyDir(src, tmp); err != nil {
				fail("%v", err)
			}
			if err := os.WriteFile(filepath.Join(dir, m[3]), cliBuild(tmp), 0o644); err != nil {
				fail("%v", err)
			}
			lines[i] = "- " + m[3]
		}
		if !complete {
			allBases = false // a controller not asked for (an extra component)
			continue
		}
		if err := os.WriteFile(kpath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			fail("%v", err)
		}
		if err := os.WriteFile(filepath.Join(bundleDir, name+".yaml"), cliBuild(dir), 0o644); err != nil {
			fail("%v", err)
		}
	}
	for _, name := range []string{"rbac", "policies"} {
		built := cliBuild(filepath.Join(manifests, name))
		if err := os.WriteFile(filepath.Join(bundleDir, name+".yaml"), built, 0o644); err != nil {
			fail("%v", err)
		}
	}
	if allBases {
		built := cliBuild(filepath.Join(manifests, "install"))
		if err := os.WriteFile(filepath.Join(*out, "install.yaml"), built, 0o644); err != nil {
			fail("%v", err)
		}
	}
}

func bootstrap(args []string) {
	defaults := install.MakeDefaultOptions()
	fs := flag.NewFlagSet("bootstrap", flag.ExitOnError)
	bundleDir := fs.String("bundle", "", "the manifests bundle (flux-oracle release's bundle/)")
	out := fs.String("out", "", "the repository root to write into")
	version := fs.String("version", "", "Flux version (as flux bootstrap --version)")
	url := fs.String("url", "", "Git repository URL")
	branch := fs.String("branch", "main", "Git branch")
	path := fs.String("path", "", "path in the repository, e.g. clusters/k8s-01")
	interval := fs.Duration("interval", time.Minute, "sync interval")
	secretName := fs.String("secret-name", "flux-system", "Git credentials Secret")
	var components, extra, tolerations list
	fs.Var(&components, "components", "components (default: the four defaults)")
	fs.Var(&extra, "components-extra", "extra components")
	fs.Var(&tolerations, "toleration-keys", "toleration keys")
	registry := fs.String("registry", defaults.Registry, "container registry")
	pullSecret := fs.String("image-pull-secret", "", "image pull secret")
	networkPolicy := fs.Bool("network-policy", defaults.NetworkPolicy, "network policies")
	watchAll := fs.Bool("watch-all-namespaces", defaults.WatchAllNamespaces, "watch all namespaces")
	clusterDomain := fs.String("cluster-domain", defaults.ClusterDomain, "cluster domain")
	logLevel := fs.String("log-level", defaults.LogLevel, "log level")
	_ = fs.Parse(args)
	if *bundleDir == "" || *out == "" || *url == "" || *path == "" || *version == "" {
		fail("bootstrap needs -bundle, -out, -url, -path and -version")
	}
	if len(components) == 0 {
		components = defaults.Components
	}
	// what `flux bootstrap git` sets (cmd/flux/bootstrap_git.go); bootstrapComponents() is the
	// components and the extra components together
	installOpts := install.Options{
		BaseURL:                defaults.BaseURL,
		Version:                *version,
		Namespace:              "flux-system",
		Components:             append(append([]string{}, components...), extra...),
		Registry:               *registry,
		ImagePullSecret:        *pullSecret,
		WatchAllNamespaces:     *watchAll,
		NetworkPolicy:          *networkPolicy,
		LogLevel:               *logLevel,
		NotificationController: defaults.NotificationController,
		ManifestFile:           defaults.ManifestFile,
		Timeout:                defaults.Timeout,
		TargetPath:             *path,
		ClusterDomain:          *clusterDomain,
		TolerationKeys:         tolerations,
	}
	// install.Generate writes its kustomization into the manifests base: a copy per run
	base, err := os.MkdirTemp("", "flux-oracle-base-")
	if err != nil {
		fail("%v", err)
	}
	if os.Getenv("FLUX_ORACLE_KEEP") == "" {
		defer os.RemoveAll(base)
	} else {
		fmt.Fprintln(os.Stderr, "kept", base)
	}
	if err := copyDir(*bundleDir, base); err != nil {
		fail("%v", err)
	}
	components_, err := install.Generate(installOpts, base)
	if err != nil {
		fail("install: %v", err)
	}
	syncOpts := sync.Options{
		Interval:     *interval,
		Name:         "flux-system",
		Namespace:    "flux-system",
		URL:          *url,
		Branch:       *branch,
		Secret:       *secretName,
		TargetPath:   *path,
		ManifestFile: sync.MakeDefaultOptions().ManifestFile,
	}
	syncManifest, err := sync.Generate(syncOpts)
	if err != nil {
		fail("sync: %v", err)
	}
	for _, m := range []struct{ path, content string }{
		{components_.Path, components_.Content},
		{syncManifest.Path, syncManifest.Content},
	} {
		target := filepath.Join(*out, m.path)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			fail("%v", err)
		}
		if err := os.WriteFile(target, []byte(m.content), 0o644); err != nil {
			fail("%v", err)
		}
	}
	root, err := filepath.Abs(*out)
	if err != nil {
		fail("%v", err)
	}
	fsys, err := filesys.MakeFsOnDiskSecureBuild(root)
	if err != nil {
		fail("%v", err)
	}
	kus, err := kustomization.Generate(kustomization.Options{
		FileSystem: fsys,
		BaseDir:    root,
		TargetPath: filepath.Dir(syncManifest.Path),
	})
	if err != nil {
		fail("kustomization: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, kus.Path), []byte(kus.Content), 0o644); err != nil {
		fail("%v", err)
	}
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: flux-oracle release|bootstrap|build ...")
	}
	switch os.Args[1] {
	case "release":
		release(os.Args[2:])
	case "bootstrap":
		bootstrap(os.Args[2:])
	case "build": // kustomize build DIR as the kustomize CLI does it (for debugging the bundle)
		_, _ = os.Stdout.Write(cliBuild(os.Args[2]))
	default:
		fail("unknown command %q", os.Args[1])
	}
}
