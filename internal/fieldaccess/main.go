// Command fieldaccess counts, for one package, the reads and writes of each
// struct type's unexported fields made from files other than the one that
// declares the type. A feature that owns its state keeps that count near
// zero; docs/DESIGN.md quotes the figures for the root package.
//
//	go run ./internal/fieldaccess            # the root package
//	go run ./internal/fieldaccess -v ./transport
//
// Test files are not counted. Exit status 2 on a load or type error.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// listed is the part of `go list -json` this command reads.
type listed struct {
	Dir        string
	ImportPath string
	GoFiles    []string
	Export     string
}

func main() {
	verbose := flag.Bool("v", false, "list each type's count and the files that reach into it")
	flag.Parse()
	pattern := "."
	if flag.NArg() > 0 {
		pattern = flag.Arg(0)
	}
	if err := run(os.Stdout, pattern, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "fieldaccess:", err)
		os.Exit(2)
	}
}

func run(w io.Writer, pattern string, verbose bool) error {
	target, exports, err := load(pattern)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range target.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(target.Dir, name), nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		p, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(p)
	})
	info := &types.Info{Selections: make(map[*ast.SelectorExpr]*types.Selection)}
	pkg, err := (&types.Config{Importer: imp}).Check(target.ImportPath, fset, files, info)
	if err != nil {
		return err
	}
	owner := fieldOwners(pkg)
	perType := map[string]int{}
	perPair := map[string]map[string]int{}
	total := 0
	for sel, s := range info.Selections {
		if s.Kind() != types.FieldVal {
			continue
		}
		field, ok := s.Obj().(*types.Var)
		if !ok || field.Exported() || field.Pkg() != pkg {
			continue
		}
		typ, ok := owner[field]
		if !ok {
			continue
		}
		declFile := fset.Position(field.Pos()).Filename
		useFile := fset.Position(sel.Sel.Pos()).Filename
		if declFile == useFile {
			continue
		}
		total++
		perType[typ]++
		if perPair[typ] == nil {
			perPair[typ] = map[string]int{}
		}
		perPair[typ][filepath.Base(useFile)]++
	}
	names := make([]string, 0, len(perType))
	for n := range perType {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if perType[names[i]] != perType[names[j]] {
			return perType[names[i]] > perType[names[j]]
		}
		return names[i] < names[j]
	})
	fmt.Fprintf(w, "%s: %d accesses to unexported fields from other files\n", target.ImportPath, total)
	for _, n := range names {
		fmt.Fprintf(w, "  %-24s %d\n", n, perType[n])
		if verbose {
			fs := make([]string, 0, len(perPair[n]))
			for f := range perPair[n] {
				fs = append(fs, f)
			}
			sort.Strings(fs)
			for _, f := range fs {
				fmt.Fprintf(w, "      %-28s %d\n", f, perPair[n][f])
			}
		}
	}
	return nil
}

// fieldOwners maps each field of each named struct type declared in pkg
// (embedded anonymous structs included) to the type's name.
func fieldOwners(pkg *types.Package) map[*types.Var]string {
	owner := map[*types.Var]string{}
	var walk func(name string, st *types.Struct)
	walk = func(name string, st *types.Struct) {
		for i := 0; i < st.NumFields(); i++ {
			f := st.Field(i)
			owner[f] = name
			if inner, ok := f.Type().Underlying().(*types.Struct); ok && !f.Embedded() {
				if _, named := f.Type().(*types.Named); !named {
					walk(name, inner)
				}
			}
		}
	}
	scope := pkg.Scope()
	for _, n := range scope.Names() {
		tn, ok := scope.Lookup(n).(*types.TypeName)
		if !ok {
			continue
		}
		if st, ok := tn.Type().Underlying().(*types.Struct); ok {
			walk(n, st)
		}
	}
	return owner
}

// load lists pattern and its dependencies with their export data.
func load(pattern string) (listed, map[string]string, error) {
	var out bytes.Buffer
	cmd := exec.Command("go", "list", "-export", "-deps", "-json", pattern)
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return listed{}, nil, fmt.Errorf("go list: %w", err)
	}
	dec := json.NewDecoder(&out)
	exports := map[string]string{}
	var last listed
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			return listed{}, nil, err
		}
		exports[p.ImportPath] = p.Export
		last = p // -deps lists the named package after its dependencies
	}
	return last, exports, nil
}
