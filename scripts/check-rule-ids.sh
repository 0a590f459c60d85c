#!/usr/bin/env bash
# Every rule the tree cites must be written down in the repository:
#   - selection rule ids (L1-L9, S1-S4, I1-I7, in prose or in test names such as L1_SniFirst or
#     Check.SharedIpPortCertificate_I3): a heading "### <id> — ..." in src/bindings/README.md;
#   - lookup steps ("L1 step 3", "L1.3"): a row "| L1.3 |" of the L1 table there;
#   - sections ("section 3", "sections 1-3", Section3_ test names; lines that name an RFC are
#     skipped): a heading "## 3. ..." there;
#   - pitfalls ("pitfall 3", "pitfalls 1 and 4", _Pitfall4): a heading "### Pitfall 3 — ...";
#   - ClientHello design rules ("design rule 2"): a heading "### Design rule 2 — ..." in
#     src/tls/README.md.
# Prints FILE:LINE and the citation for each one that does not resolve, and exits 1; exits 0 when
# all resolve. Scans every tracked or untracked-but-not-ignored text file (git ls-files), or every
# file under the root when it is not a git checkout; fuzz corpora and node_modules are skipped.
#
# Usage: scripts/check-rule-ids.sh [REPO_ROOT]    (default: the repository holding this script)
set -euo pipefail

root=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"}
cd "$root"

for doc in src/bindings/README.md src/tls/README.md; do
    if [[ ! -f $doc ]]; then
        echo "check-rule-ids: $doc is missing" >&2
        exit 1
    fi
done

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    list_files() { git ls-files -z --cached --others --exclude-standard; }
else
    # Not a checkout: skip what .gitignore would (build trees, generated certificates, results).
    list_files() {
        find . \( -path './.git' -o -path './build*' -o -path './out' -o -path './.cache' \
            -o -path './config/lab-certs' -o -path './bench/results' \) -prune \
            -o -type f -printf '%P\0'
    }
fi

list_files | exec perl -0 -e '
use strict;
use warnings;

my $rules_doc  = "src/bindings/README.md";
my $reader_doc = "src/tls/README.md";

sub slurp_lines {
    my ($file) = @_;
    open(my $fh, "<", $file) or die "check-rule-ids: cannot read $file: $!\n";
    local $/ = "\n";
    my @lines = <$fh>;
    close $fh;
    return @lines;
}

# What the documents define, and where (to catch a heading defined twice).
my (%defined, @problems);
sub define {
    my ($what, $where) = @_;
    push @problems, "$where: $what is defined twice (first at $defined{$what})"
        if exists $defined{$what};
    $defined{$what} //= $where;
}
my $n = 0;
for my $line (slurp_lines($rules_doc)) {
    $n++;
    my $where = "$rules_doc:$n";
    define("rule $1", $where) if $line =~ /^#{2,4} ([LSI][0-9]+)(?: |$)/;
    define("step L1.$1", $where) if $line =~ /^\| L1\.([0-9]+) \|/;
    define("section $1", $where) if $line =~ /^## ([0-9]+)\. /;
    define("pitfall $1", $where) if $line =~ /^#{2,4} Pitfall ([0-9]+)(?: |$)/;
}
$n = 0;
for my $line (slurp_lines($reader_doc)) {
    $n++;
    define("design rule $1", "$reader_doc:$n") if $line =~ /^#{2,4} Design rule ([0-9]+)(?: |$)/;
}

my %doc_of = (rule => $rules_doc, step => $rules_doc, section => $rules_doc,
              pitfall => $rules_doc, "design rule" => $reader_doc);

my ($citations, $files) = (0, 0);
local $/ = "\0";
while (my $file = <STDIN>) {
    chomp $file;
    next if $file eq "" || !-f $file || -l $file;
    next if $file =~ m{(^|/)(node_modules|corpus)/} || $file =~ m{(^|/)package-lock\.json$};
    next if $file =~ /\.(bin|pem|crt|key|der|pfx|p12|png|jpg|gz|zip)$/;
    next if -B $file;
    open(my $fh, "<", $file) or next;
    $files++;
    local $/ = "\n";
    while (my $line = <$fh>) {
        my @cited;
        push @cited, ["rule", $1] while $line =~ /(?<![A-Za-z0-9])([LSI][0-9]+)(?![A-Za-z0-9])/g;
        push @cited, ["step", "L1.$1"] while $line =~ /(?<![A-Za-z0-9])L1(?: step |\.)([0-9]+)/g;
        if ($line !~ /RFC/) {
            while ($line =~ /(?<![A-Za-z0-9])[Ss]ections?[ _]?([0-9]+)(?:\s*(?:-|\xe2\x80\x93)\s*([0-9]+))?/g) {
                my ($from, $to) = ($1, $2 // $1);
                push @cited, ["section", $_] for $from .. $to;
            }
        }
        while ($line =~ /[Pp]itfalls?[ _]?([0-9]+((?:\s*(?:,|and|or)\s*[0-9]+)*))/g) {
            push @cited, ["pitfall", $_] for ($1 =~ /([0-9]+)/g);
        }
        push @cited, ["design rule", $1]
            while $line =~ /(?:[Dd]esign rule|clienthello\.md rule|tls\/README\.md rule)s? ([0-9]+)/g;
        for my $c (@cited) {
            my ($kind, $id) = @$c;
            $citations++;
            next if exists $defined{"$kind $id"};
            my $shown = $kind eq "rule" || $kind eq "step" ? $id : "$kind $id";
            push @problems, "$file:$.: cites $shown, which has no heading in $doc_of{$kind}";
        }
    }
    close $fh;
}

if (@problems) {
    print STDERR "check-rule-ids: $_\n" for @problems;
    printf STDERR "check-rule-ids: %d problem(s)\n", scalar @problems;
    exit 1;
}
printf "check-rule-ids: %d citations in %d files, all written down (%d headings)\n",
    $citations, $files, scalar keys %defined;
'
