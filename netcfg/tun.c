/* tun: to be written */
