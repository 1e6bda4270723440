package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/examples/internal/cli"
)

func TestParsePrice(t *testing.T) {
	for _, tc := range []struct {
		in        string
		allowZero bool
		want      string // base units per byte; "" = error
		errHas    string
	}{
		{in: "1000", want: "1000"},
		{in: " 7 ", want: "7"},
		{in: "1/GiB", want: "931322574"},
		{in: "1.5/gib", want: "1396983861"},
		{in: "1/MiB", want: "953674316406"},
		{in: "0", allowZero: true, want: "0"},
		{in: "0", errHas: "above zero"},
		{in: "0/GiB", errHas: "above zero"},
		{in: "0.000000000000000001/GiB", errHas: "under one base unit"},
		{in: "-5", errHas: "base units per byte"},
		{in: "1.5", errHas: "base units per byte"},
		{in: "abc/GiB", errHas: "BTT per GiB"},
		{in: "", errHas: "base units per byte"},
		{in: "1e3", errHas: "base units per byte"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := cli.ParsePrice("reserve", tc.in, tc.allowZero)
			if tc.want == "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.errHas)
				assert.Contains(t, err.Error(), "-reserve")
				assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.String())
		})
	}
}

func TestParseBTT(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"10", "10000000000000000000"},
		{"0.25", "250000000000000000"},
		{"0", "0"},
		{"1000base", "1000"},
		{"1000 base", "1000"},
		{"-1", ""},
		{"1.0000000000000000001", ""},
		{"ten", ""},
		{"base", ""},
	} {
		got, err := cli.ParseBTT("budget", tc.in)
		if tc.want == "" {
			require.Error(t, err, tc.in)
			assert.Contains(t, err.Error(), "-budget")
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got.String(), tc.in)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"512KiB", 512 << 10, true}, {"4MiB", 4 << 20, true}, {"1GiB", 1 << 30, true},
		{"10MB", 10_000_000, true}, {"123", 123, true}, {"7B", 7, true},
		{"-1", 0, false}, {"1.5MiB", 0, false}, {"lots", 0, false}, {"99999999999999GiB", 0, false},
	} {
		got, err := cli.ByteSize("upload-rate", tc.in)
		if !tc.ok {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestAddrList(t *testing.T) {
	var l cli.AddrList
	require.NoError(t, l.Set("127.0.0.1:6881"))
	require.NoError(t, l.Set("127.0.0.1:1, [::1]:2"))
	assert.Equal(t, cli.AddrList{netip.MustParseAddrPort("127.0.0.1:6881"), netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("[::1]:2")}, l)
	assert.Equal(t, "127.0.0.1:6881,127.0.0.1:1,[::1]:2", l.String())
	for _, bad := range []string{"localhost:1", "127.0.0.1", "127.0.0.1:0", "1.2.3.4:99999"} {
		assert.Error(t, l.Set(bad), bad)
	}
	var s cli.StringList
	require.NoError(t, s.Set("udp://x:1"))
	assert.Error(t, s.Set(" "))
}

func TestLogFlags(t *testing.T) {
	var buf bytes.Buffer
	for _, tc := range []struct {
		format, level string
		ok            bool
	}{
		{"text", "info", true}, {"json", "debug", true}, {"json", "WARN", true}, {"text", "error", true},
		{"xml", "info", false}, {"text", "loud", false},
	} {
		lg, err := cli.LogFlags{Format: tc.format, Level: tc.level}.Logger(&buf)
		if !tc.ok {
			require.Error(t, err)
			assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
			continue
		}
		require.NoError(t, err)
		buf.Reset()
		lg.Error("hello", "k", 1)
		if tc.format == "json" {
			assert.Contains(t, buf.String(), `"msg":"hello"`)
		} else {
			assert.Contains(t, buf.String(), "msg=hello")
		}
	}
}

func TestParse(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("dir", "", "")
		return fs
	}
	require.NoError(t, cli.Parse(newFS(), []string{"-dir", "d", "path"}, 1))
	for _, tc := range []struct {
		args []string
		has  string
	}{
		{[]string{"-key", "abc"}, "never taken on the command line"},
		{[]string{"--private-key=abc"}, "never taken on the command line"},
		{[]string{"-passphrase", "x"}, "never taken on the command line"},
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"a", "b"}, "unexpected arguments"},
	} {
		err := cli.Parse(newFS(), tc.args, 1)
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error(), tc.has)
		assert.Equal(t, cli.ExitSetup, cli.ExitCode(err))
		assert.NotContains(t, err.Error(), "abc", "a key never shows")
	}
	assert.ErrorIs(t, cli.Parse(newFS(), []string{"-h"}, 0), flag.ErrHelp)
}

func TestExitCode(t *testing.T) {
	assert.Equal(t, 0, cli.ExitCode(nil))
	assert.Equal(t, 1, cli.ExitCode(errors.New("boom")))
	base := errors.New("cause")
	se := cli.Setup(base)
	assert.Equal(t, 2, cli.ExitCode(se))
	assert.Equal(t, 2, cli.ExitCode(fmt.Errorf("wrapped: %w", se)))
	assert.ErrorIs(t, se, base)
	assert.Same(t, se, cli.Setup(se), "not wrapped twice")
	assert.NoError(t, cli.Setup(nil))
	var buf strings.Builder
	assert.Equal(t, 2, cli.Report(&buf, "seeder", se))
	assert.Equal(t, "seeder: cause\n", buf.String())
}

func TestHumanAndFloat(t *testing.T) {
	assert.Equal(t, "512 B", cli.HumanBytes(512))
	assert.Equal(t, "1.5 KiB", cli.HumanBytes(1536))
	assert.Equal(t, "4.0 MiB", cli.HumanBytes(4<<20))
	assert.Equal(t, "2.0 GiB", cli.HumanBytes(2<<30))
	two, err := btt.ParseBTT("2.5")
	require.NoError(t, err)
	assert.InDelta(t, 2.5, cli.Float(two), 1e-12)
	assert.Equal(t, "931322574 base/B (0.999999999339134976 BTT/GiB)", cli.FormatPrice(btt.NewAmount(931322574)))
}
