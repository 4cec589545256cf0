/* nft_batch: to be written */
