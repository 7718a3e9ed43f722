package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

const aliasUsage = `coffer alias SUBCOMMAND [ARGS...]

Manage server profiles ("aliases"); remote paths start with an alias name.

Subcommands:
  set NAME URL ACCESS_KEY SECRET_KEY [--ca FILE] [--region R]
  ls [--show-secrets]
  rm NAME
  import NAME --data-dir DIR

Without a configured "local" alias, "local" means the server whose data
directory is $COFFER_DATA_DIR (or ./coffer-data).`

func (a *app) cmdAlias(ctx context.Context, args []string) error {
	if done, err := a.subcommandHelp("alias", aliasUsage, args); done {
		return err
	}
	sub := args[0]
	switch sub {
	case "set", "add":
		return a.cmdAliasSet(args[1:])
	case "ls", "list":
		return a.cmdAliasLs(args[1:])
	case "rm", "remove":
		return a.cmdAliasRm(args[1:])
	case "import":
		return a.cmdAliasImport(args[1:])
	}
	return usagef("alias", "alias: unknown subcommand %q", sub)
}

func (a *app) cmdAliasSet(args []string) error {
	fs := newFlags("alias set", `coffer alias set NAME URL ACCESS_KEY SECRET_KEY [--ca FILE] [--region R]

Save a server profile. Give "-" as SECRET_KEY to read it from stdin (with a
prompt and no echo on a terminal), so it stays out of the shell history.`)
	var ca, region string
	fs.StringVar(&ca, "ca", "", "PEM file with the CA to trust for this server (e.g. DATA_DIR/ca.pem)")
	fs.StringVar(&region, "region", "", "region to sign requests for (default us-east-1)")
	fs.dashArgs = true // generated secret keys may start with "-"
	pos, err := a.parse(fs, args, 3, 4)
	if err != nil {
		return err
	}
	name, rawURL, access := pos[0], pos[1], pos[2]
	if err := validAliasName(name); err != nil {
		return usagef(fs.cmd, "%v", err)
	}
	endpoint, err := validEndpoint(rawURL)
	if err != nil {
		return usagef(fs.cmd, "%v", err)
	}
	if access == "" {
		return usagef(fs.cmd, "empty ACCESS_KEY")
	}
	secret := "-"
	if len(pos) == 4 {
		secret = pos[3]
	}
	if secret == "-" {
		if secret, err = a.promptHidden("Secret key: "); err != nil {
			return err
		}
	}
	if secret == "" {
		return usagef(fs.cmd, "empty SECRET_KEY")
	}
	if ca != "" {
		if ca, err = filepath.Abs(ca); err != nil {
			return err
		}
		if err := checkCAFile(ca); err != nil {
			return err
		}
	}
	al := Alias{URL: endpoint, AccessKey: access, SecretKey: secret, CAFile: ca, Region: region}
	if err := a.saveAlias(name, al); err != nil {
		return err
	}
	return a.reportAlias(&fs.common, "Added", name, al)
}

func (a *app) saveAlias(name string, al Alias) error {
	c, path, err := a.loadConfig()
	if err != nil {
		return err
	}
	c.Aliases[name] = al
	return saveConfig(path, c)
}

func (a *app) reportAlias(cf *commonFlags, verb, name string, al Alias) error {
	if cf.json {
		return a.printJSON(aliasJSON(name, al, false, ""))
	}
	if !cf.quiet {
		fmt.Fprintf(a.stdout, "%s alias %q for %s.\n", verb, name, al.URL)
	}
	return nil
}

// aliasView is an alias as `alias ls --json` prints it.
type aliasView struct {
	Status    string `json:"status"`
	Alias     string `json:"alias"`
	URL       string `json:"url"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key,omitempty"`
	CAFile    string `json:"ca_file,omitempty"`
	Region    string `json:"region,omitempty"`
	// Source is set for an implicit alias: the credentials file it comes from.
	Source string `json:"source,omitempty"`
}

func aliasJSON(name string, al Alias, showSecret bool, source string) aliasView {
	v := aliasView{Status: "success", Alias: name, URL: al.URL, AccessKey: al.AccessKey, CAFile: al.CAFile, Region: al.Region, Source: source}
	if showSecret {
		v.SecretKey = al.SecretKey
	}
	return v
}

func (a *app) cmdAliasLs(args []string) error {
	fs := newFlags("alias ls", `coffer alias ls [--show-secrets]

List the saved server profiles. Secret keys are hidden unless --show-secrets.`)
	var show bool
	fs.BoolVar(&show, "show-secrets", false, "print secret keys too")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, _, err := a.loadConfig()
	if err != nil {
		return err
	}
	var views []aliasView
	names := make([]string, 0, len(c.Aliases))
	for n := range c.Aliases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		views = append(views, aliasJSON(n, c.Aliases[n], show, ""))
	}
	if _, ok := c.Aliases[implicitAlias]; !ok {
		dir := a.localDataDir()
		if al, err := readServerCredentials(dir); err == nil {
			views = append(views, aliasJSON(implicitAlias, al, show, filepath.Join(dir, credentialsFileName)))
		}
	}
	if fs.common.json {
		for _, v := range views {
			if err := a.printJSON(v); err != nil {
				return err
			}
		}
		return nil
	}
	if len(views) == 0 {
		a.infof(&fs.common, "No aliases. Add one with `coffer alias set` or `coffer alias import`.\n")
		return nil
	}
	tw := a.newTable("ALIAS\tURL\tACCESS KEY\tSECRET KEY\tREGION\tCA")
	for _, v := range views {
		secret := "********"
		if show {
			secret = v.SecretKey
		}
		region := v.Region
		if region == "" {
			region = defaultRegion
		}
		ca := v.CAFile
		if ca == "" {
			ca = "-"
		}
		name := v.Alias
		if v.Source != "" {
			name += " (from " + v.Source + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, v.URL, v.AccessKey, secret, region, ca)
	}
	return tw.Flush()
}

func (a *app) cmdAliasRm(args []string) error {
	fs := newFlags("alias rm", `coffer alias rm NAME

Remove a saved server profile.`)
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, path, err := a.loadConfig()
	if err != nil {
		return err
	}
	name := pos[0]
	if _, ok := c.Aliases[name]; !ok {
		return fmt.Errorf("%w %q: nothing to remove", errUnknownAlias, name)
	}
	delete(c.Aliases, name)
	if err := saveConfig(path, c); err != nil {
		return err
	}
	if fs.common.json {
		return a.printJSON(map[string]string{"status": "success", "alias": name})
	}
	if !fs.common.quiet {
		fmt.Fprintf(a.stdout, "Removed alias %q.\n", name)
	}
	return nil
}

func (a *app) cmdAliasImport(args []string) error {
	fs := newFlags("alias import", `coffer alias import NAME --data-dir DIR

Save a profile from DIR/credentials.json, which `+"`coffer serve`"+` writes into its
data directory (endpoint, administrator keys and the CA to trust).`)
	var dir string
	fs.StringVar(&dir, "data-dir", "", "the server's data directory")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if dir == "" {
		return usagef(fs.cmd, "alias import: --data-dir is required")
	}
	name := pos[0]
	if err := validAliasName(name); err != nil {
		return usagef(fs.cmd, "%v", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	al, err := readServerCredentials(dir)
	if err != nil {
		return err
	}
	if al.CAFile != "" {
		if _, err := os.Stat(al.CAFile); err != nil {
			return fmt.Errorf("the CA file named in %s: %w", filepath.Join(dir, credentialsFileName), err)
		}
	}
	if err := a.saveAlias(name, al); err != nil {
		return err
	}
	return a.reportAlias(&fs.common, "Imported", name, al)
}
