/* dns: to be written */
