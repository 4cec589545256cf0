/* addr: to be written */
