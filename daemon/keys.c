/* keys: to be written */
