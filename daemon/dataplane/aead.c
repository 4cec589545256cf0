/* aead: to be written */
