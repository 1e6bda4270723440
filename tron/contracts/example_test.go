package contracts_test

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/bttspeed/bttspeed/btt"
	"github.com/bttspeed/bttspeed/tron/contracts"
)

func ExampleEscrowDeployData() {
	// The token's TRON address, in the 20-byte EVM form the ABI encodes.
	token := btt.MustParseAddress("TAFjULxiVgT4qWk6UZwjqwZXTSaGaqnVp4").EVM()
	data := contracts.EscrowDeployData(token, 3600)
	args := data[len(contracts.EscrowBytecode()):]
	fmt.Println(hex.EncodeToString(args[:32]))
	fmt.Println(hex.EncodeToString(args[32:64]))
	fmt.Println(hex.EncodeToString(args[64:])) // voucherScheme: SchemeTIP191
	// Output:
	// 000000000000000000000000032017411f4663b317fe77c257d28d5cd1b26e3d
	// 0000000000000000000000000000000000000000000000000000000000000e10
	// 0000000000000000000000000000000000000000000000000000000000000000
}

func ExampleEscrowDeployDataFor() {
	// An escrow on an EVM chain (BTTC) checks EIP-712 vouchers.
	token := [20]byte{19: 1}
	data := contracts.EscrowDeployDataFor(contracts.EscrowParams{Token: token, ChallengePeriod: 3600, Scheme: contracts.SchemeEIP712})
	args := data[len(contracts.EscrowBytecode()):]
	fmt.Println(hex.EncodeToString(args[64:]))
	// Output:
	// 0000000000000000000000000000000000000000000000000000000000000001
}

func ExampleEscrowABI() {
	escrow := contracts.EscrowABI()
	claim := escrow.Methods["claim"]
	fmt.Println(claim.Sig, hex.EncodeToString(claim.ID))
	data, err := escrow.Pack("startClose", [32]byte{1})
	if err != nil {
		panic(err)
	}
	fmt.Println(hex.EncodeToString(data[:4]), hex.EncodeToString(data[4:8]))
	// Output:
	// claim(bytes32,uint256,bytes) 7964ea87
	// 93b1d669 01000000
}

func ExampleTokenABI() {
	token := contracts.TokenABI()
	fmt.Println(token.Methods["mint"].Sig, token.Methods["decimals"].Sig)
	// Output: mint(address,uint256) decimals()
}

func ExampleTokenDeployData() {
	// TestToken's constructor takes no arguments: the deploy data is its
	// creation code. Its deployer becomes its owner, the only minter.
	fmt.Println(len(contracts.TokenDeployData()) == len(contracts.TokenBytecode()))
	// Output: true
}

func ExampleEscrowABIJSON() {
	// gotron-sdk's DeployContract takes the ABI as JSON.
	fmt.Println(strings.HasPrefix(contracts.EscrowABIJSON(), "["), strings.Contains(contracts.TokenABIJSON(), `"name": "transferFrom"`))
	// Output: true true
}
